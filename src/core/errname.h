/* Symbolic errno names, from our own table (no strerrorname_np). */
#ifndef LINX_ERRNAME_H
#define LINX_ERRNAME_H

/* "EPERM" for EPERM; "E?" when unknown. */
const char *linx_errno_name(int err);

#endif
