/* The workload's network step (see child_net.h): lo up through the two
 * ioctls every ifconfig uses (SIOCGIFFLAGS, SIOCSIFFLAGS) on a datagram
 * socket of the new net namespace. Freestanding: raw system calls only. */
#include "child_net.h"

#include "child_sys.h"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

long linx_loopback_up(void)
{
    long s = RSYS3(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return s;
    struct ifreq ifr;
    zero(&ifr, sizeof ifr);
    copy(ifr.ifr_name, "lo", 3);
    long r = RSYS3(SYS_ioctl, s, SIOCGIFFLAGS, &ifr);
    if (r >= 0 && !(ifr.ifr_flags & IFF_UP)) {
        ifr.ifr_flags = (short)(ifr.ifr_flags | IFF_UP);
        r = RSYS3(SYS_ioctl, s, SIOCSIFFLAGS, &ifr);
    }
    rs_close((int)s);
    return r < 0 ? r : 0;
}
