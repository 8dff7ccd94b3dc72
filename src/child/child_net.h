/* The workload's network step (freestanding, as child_inside.c): bring
 * the loopback interface of its new net namespace up, after the hostname
 * and before any change of ids or capabilities. */
#ifndef LINX_CHILD_NET_H
#define LINX_CHILD_NET_H

/* lo up (IFF_UP), as `ip link set lo up`: 0 or -errno. */
long linx_loopback_up(void);

#endif
