/* spec/sandbox_session_spec.lua: a host that owns a real terminal, as a
 * shell in a terminal window does. It opens a pty, runs argv[1..] as the
 * leader of a new session with the pty as its controlling terminal and
 * stdio, waits for it, and then reads what is waiting in the terminal's
 * input queue: what a shell would read (and run) next. Prints the
 * command's output, then "INPUT:" and the queued input, bytes as they are.
 * The terminal is raw (no echo, no line editing), so every injected byte
 * can be read back. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pty.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void drain(int fd, const char *label)
{
    char buf[4096];
    ssize_t n;
    printf("%s", label);
    while ((n = read(fd, buf, sizeof buf)) > 0)
        fwrite(buf, 1, (size_t)n, stdout);
    printf("\n");
}

int main(int argc, char **argv)
{
    int m, s;
    if (argc < 2)
        return 2;
    if (openpty(&m, &s, NULL, NULL, NULL) != 0) {
        perror("openpty");
        return 2;
    }
    struct termios t;
    tcgetattr(s, &t);
    cfmakeraw(&t);
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    tcsetattr(s, TCSANOW, &t);
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        ioctl(s, TIOCSCTTY, 0);
        dup2(s, 0);
        dup2(s, 1);
        dup2(s, 2);
        if (s > 2)
            close(s);
        close(m);
        execvp(argv[1], argv + 1);
        _exit(127);
    }
    /* The command's output: read it while it runs, so it never blocks. */
    int st = 0;
    fcntl(m, F_SETFL, O_NONBLOCK);
    fcntl(s, F_SETFL, O_NONBLOCK);
    printf("OUTPUT:");
    for (;;) {
        char buf[4096];
        ssize_t n;
        while ((n = read(m, buf, sizeof buf)) > 0)
            fwrite(buf, 1, (size_t)n, stdout);
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        usleep(10000);
    }
    char buf[4096];
    ssize_t n;
    while ((n = read(m, buf, sizeof buf)) > 0)
        fwrite(buf, 1, (size_t)n, stdout);
    printf("\nSTATUS:%d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    drain(s, "INPUT:");
    return 0;
}
