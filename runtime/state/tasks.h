/* placeholder until the state layer's tasks.h lands */
#include "state/restore.h"
