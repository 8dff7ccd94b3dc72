/* Whether the children (the keeper, the workload, a helper's go-between)
 * share the host's memory (CLONE_VM) or run on a copy of it. */
#ifndef LINX_CLONEVM_H
#define LINX_CLONEVM_H

#include <stdlib.h>
#include <string.h>

/* CLONE_VM needs the raw clone (x86-64 only for now) and a build that does
 * not instrument the children: ASan/TSan keep per-thread state in the TLS
 * the children would share with the host, so those builds copy. */
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define LINX_NO_CLONE_VM 1
#endif
#endif
#ifndef LINX_NO_CLONE_VM
#define LINX_CAN_CLONE_VM 1
#endif
#endif

/* The host's choice: LINX_PROCESS_NO_CLONE_VM=1 copies the host's memory
 * for the children instead of sharing it. Valgrind refuses CLONE_VM
 * without CLONE_THREAD and exits, so a host that runs under it (its
 * preload libraries are in LD_PRELOAD) copies too, without being told. */
static inline int linx_clone_vm_wanted(void)
{
#ifdef LINX_CAN_CLONE_VM
    const char *no = getenv("LINX_PROCESS_NO_CLONE_VM");
    if (no != NULL && no[0] != '\0' && strcmp(no, "0") != 0)
        return 0;
    const char *pre = getenv("LD_PRELOAD");
    return pre == NULL || strstr(pre, "/vgpreload_") == NULL;
#else
    return 0;
#endif
}

#endif
