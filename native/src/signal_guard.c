/*
 * PoCL's CPU device installs a SIGFPE handler when it starts, and the LLVM inside it installs
 * handlers for SIGSEGV, SIGBUS, SIGILL, SIGUSR2, SIGXFSZ and more the first time it compiles a
 * kernel (to delete its temporary files on a crash), replacing the host program's handlers for
 * good. In a JVM that is fatal: HotSpot takes SIGSEGV for implicit null checks and safepoint
 * polls, SIGFPE for integer division by zero and SIGUSR2 to suspend threads, and LLVM's handler
 * resets itself (SA_RESETHAND), so a later fault can kill the JVM without a crash report. Seen
 * in scripts/bench (a JVM gone with SIGSEGV, no hs_err file) and confirmed with -Xcheck:jni
 * ("SIGSEGV handler modified", in libLLVM-15). netcl therefore records the handlers before each
 * OpenCL call that may start a device or compile (device listing, program builds, kernel
 * launches and the waits for them) and puts back afterwards every one that changed during it.
 * LLVM registers its handlers only once per process, so once put back they stay.
 *
 * One short window remains: PoCL starts LLVM inside the process's first device listing, and until
 * that call returns LLVM's handlers are in place (a thread watching SIGSEGV's handler saw LLVM's
 * in about a quarter of its reads during that call, and never during the program builds and
 * kernel compiles after it). A fault of another thread then goes through LLVM's handler, which
 * gives the previous handlers back and returns, so the faulting instruction runs again into the
 * JVM's handler; only two threads faulting in the same instant could die (SA_RESETHAND).
 * README, "Choosing a device", says so.
 */
#define _POSIX_C_SOURCE 200809L
#include "signal_guard.h"

#include <signal.h>
#include <string.h>

_Static_assert(sizeof(struct sigaction) <= NETCL_SIGACTION_BYTES,
               "netcl_signal_guard has no room for a struct sigaction");

static const int guarded[NETCL_GUARDED_SIGNALS] = {
    SIGHUP, SIGINT,  SIGQUIT, SIGILL,  SIGTRAP, SIGABRT, SIGBUS,  SIGFPE,
    SIGUSR1, SIGSEGV, SIGUSR2, SIGPIPE, SIGTERM, SIGXCPU, SIGXFSZ, SIGSYS,
};

/* Guards open on this thread: a blocking kernel step's wait is guarded inside the step's guard,
 * and 16 sigaction calls cost about 1.5 us here (95 ns each). */
static _Thread_local int open_guards;

void netcl_signal_guard_begin(netcl_signal_guard *guard)
{
    guard->outermost = open_guards++ == 0;
    if (!guard->outermost) {
        return;
    }
    for (int i = 0; i < NETCL_GUARDED_SIGNALS; ++i) {
        sigaction(guarded[i], NULL, (struct sigaction *)guard->before[i]);
    }
}

static int same_handler(const struct sigaction *a, const struct sigaction *b)
{
    /* sa_handler and sa_sigaction share storage; the flags say which one is meant. */
    return a->sa_flags == b->sa_flags &&
           memcmp(&a->sa_sigaction, &b->sa_sigaction, sizeof a->sa_sigaction) == 0;
}

void netcl_signal_guard_end(const netcl_signal_guard *guard)
{
    open_guards--;
    if (!guard->outermost) {
        return;
    }
    for (int i = 0; i < NETCL_GUARDED_SIGNALS; ++i) {
        struct sigaction now;
        const struct sigaction *before = (const struct sigaction *)guard->before[i];
        if (sigaction(guarded[i], NULL, &now) == 0 && !same_handler(&now, before)) {
            sigaction(guarded[i], before, NULL);
        }
    }
}
