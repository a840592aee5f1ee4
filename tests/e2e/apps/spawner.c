/* argv[1] = "spawn" (posix_spawnp) or "execvp"; argv[2..] = the child command. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
extern char **environ;
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    if (strcmp(argv[1], "execvp") == 0) { fflush(stdout); execvp(argv[2], argv + 2); return 127; }
    pid_t pid;
    if (posix_spawnp(&pid, argv[2], NULL, NULL, argv + 2, environ) != 0) return 126;
    int st; waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 125;
}
