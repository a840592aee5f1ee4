/* Another vendor's harmless preload: a dependency-free shared object with nothing in it. */
int oneagent_e2e_other_marker = 1;
