/* A shared object with a DT_NEEDED entry (libm): the daemon must refuse it as a preload. */
#include <math.h>
double oneagent_e2e_needed(double x) { return sqrt(x); }
