/*
 * health.c - process-wide health conditions (see health.h). A mutex, since
 * the watchdog, the stream threads and the HTTP thread all touch it, none of
 * them on the record path.
 */
#include <pthread.h>
#include <stdio.h>

#include "base/health.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char reasons[SH_HEALTH__COUNT][512];

void sh_health_set(int condition, const char *reason) {
    if (condition < 0 || condition >= SH_HEALTH__COUNT) return;
    pthread_mutex_lock(&lock);
    snprintf(reasons[condition], sizeof reasons[condition], "%s", reason ? reason : "");
    pthread_mutex_unlock(&lock);
}

int sh_health_problem(char *out, size_t out_len) {
    int found = 0;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < SH_HEALTH__COUNT && !found; i++)
        if (reasons[i][0]) {
            snprintf(out, out_len, "%s", reasons[i]);
            found = 1;
        }
    pthread_mutex_unlock(&lock);
    return found;
}
