/* A dependency-free preload whose constructor writes to stderr: it passes the ELF checks but
   must fail the daemon's trial runs ("print nothing"). Built with -nostdlib. */
#ifdef __x86_64__
static void __attribute__((constructor)) noisy(void) {
    static const char msg[] = "noisy preload\n";
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(1L), "D"(2L), "S"(msg), "d"(sizeof msg - 1) : "rcx", "r11", "memory");
}
#endif
int oneagent_e2e_noisy_marker = 1;
