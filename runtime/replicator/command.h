/*
 * command.h - `streamhost replicate` (command.c).
 */
#ifndef SH_REPLICATOR_COMMAND_H
#define SH_REPLICATOR_COMMAND_H

/* argv: what follows `replicate`. Returns the exit status. */
int sh_replicator_command(int argc, char **argv);

#endif
