/* Prints the variables the preload could set; with `maps` as argv[1], also whether
   liboneagent_preload.so is mapped into this process. Exits 7. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    const char *keys[] = {"PYTHONPATH", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", 0};
    for (int i = 0; keys[i]; i++) { const char *v = getenv(keys[i]); printf("%s=%s\n", keys[i], v ? v : "<unset>"); }
    if (argc > 1 && strcmp(argv[1], "maps") == 0) {
        FILE *f = fopen("/proc/self/maps", "r"); char line[4096]; int found = 0;
        while (f && fgets(line, sizeof line, f)) if (strstr(line, "liboneagent_preload")) found = 1;
        if (f) fclose(f);
        printf("preloaded=%s\n", found ? "yes" : "no");
    }
    return 7;
}
