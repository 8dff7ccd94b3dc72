/* What linxuser needs to know about a linx.process handle. The handle
 * userdata (metatable LINX_HANDLE_MT) starts with this struct, so any
 * module in the same Lua state can aim a verb at the spawned child. */
#ifndef LINX_HANDLE_H
#define LINX_HANDLE_H

#include <sys/types.h>

#define LINX_HANDLE_MT "linx.process.handle"

struct linx_target_ref {
    pid_t pid;  /* host view of the child's pid */
    int procfd; /* O_PATH|O_DIRECTORY fd of /proc/<pid> taken at spawn,
                   -1 once the handle is closed */
    int pidfd;  /* the child's pidfd (poll: readable once it has exited),
                   -1 when the kernel gave none or the handle is closed */
};

#endif
