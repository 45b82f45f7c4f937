/*
 * raw_echo: the physical limit of the benchmark. A length-prefixed ping-pong (4-byte
 * big-endian length, then the bytes) with no serialization at all, both sides in C.
 *
 *   raw_echo echo                         the child: echo frames from stdin to stdout
 *   raw_echo drive system=raw-pipe KEY=VALUE...
 *                                         the parent: fork+exec "raw_echo echo" on a pair of
 *                                         channels, measure, print one JSON trial on stdout
 *
 * Channels (key transport=): "pipe" two plain pipes as the child's stdin and stdout (the
 * default 64 KiB kernel buffers), "pipe1m" the same grown to 1 MiB with F_SETPIPE_SZ,
 * "socketpair" one AF_UNIX stream socketpair as both stdin and stdout.
 * The other keys are the driver keys of bench/driver (sizes, warm_ms, lat_ms, ...).
 *
 * Built by the harness with `gcc -O2 -pthread` into bench/out; never committed as a binary.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
	fprintf(stderr, "raw_echo: %s: %s\n", what, strerror(errno));
	exit(2);
}

static int read_full(int fd, void *buf, size_t n) {
	char *p = buf;
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r == 0) return 0;
		if (r < 0) {
			if (errno == EINTR) continue;
			die("read");
		}
		p += r;
		n -= (size_t)r;
	}
	return 1;
}

static void write_full(int fd, const void *buf, size_t n) {
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR) continue;
			die("write");
		}
		p += w;
		n -= (size_t)w;
	}
}

static uint32_t get_be32(const unsigned char *b) {
	return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

static void put_be32(unsigned char *b, uint32_t v) {
	b[0] = v >> 24; b[1] = v >> 16; b[2] = v >> 8; b[3] = v;
}

/* echo: read one whole frame, write it back whole. */
static int echo(void) {
	size_t cap = 1 << 16;
	unsigned char *buf = malloc(cap);
	if (!buf) die("malloc");
	for (;;) {
		if (!read_full(0, buf, 4)) return 0;
		uint32_t n = get_be32(buf);
		if (4 + (size_t)n > cap) {
			cap = 4 + (size_t)n;
			buf = realloc(buf, cap);
			if (!buf) die("realloc");
		}
		if (!read_full(0, buf + 4, n)) return 0;
		write_full(1, buf, 4 + (size_t)n);
	}
}

static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* the driver's settings, key=value on the command line */
static const char *system_name = "raw-pipe", *transport = "pipe", *sizes = "16";
static long warm_ms = 20, warm_max = 200, lat_ms = 60, lat_min = 10, lat_max = 3000;
static long tput_ms = 50, conc = 64, do_lat = 1, do_tput = 1;

static void parse(int argc, char **argv) {
	for (int i = 2; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		if (!eq) { fprintf(stderr, "raw_echo: argument %s is not KEY=VALUE\n", argv[i]); exit(2); }
		*eq = 0;
		const char *k = argv[i], *v = eq + 1;
		if (!strcmp(k, "system")) system_name = v;
		else if (!strcmp(k, "transport")) transport = v;
		else if (!strcmp(k, "sizes")) sizes = v;
		else if (!strcmp(k, "warm_ms")) warm_ms = atol(v);
		else if (!strcmp(k, "warm_max")) warm_max = atol(v);
		else if (!strcmp(k, "lat_ms")) lat_ms = atol(v);
		else if (!strcmp(k, "lat_min")) lat_min = atol(v);
		else if (!strcmp(k, "lat_max")) lat_max = atol(v);
		else if (!strcmp(k, "tput_ms")) tput_ms = atol(v);
		else if (!strcmp(k, "conc")) conc = atol(v);
		else if (!strcmp(k, "lat")) do_lat = atol(v);
		else if (!strcmp(k, "tput")) do_tput = atol(v);
		/* other keys are for other drivers */
	}
}

static int to_child, from_child;
static unsigned char *frame, *reply;
static size_t frame_len;

static void check_reply(size_t n) {
	if (get_be32(reply) != n || (n > 0 && (reply[4] != frame[4] || reply[3 + n] != frame[3 + n]))) {
		fprintf(stderr, "raw_echo: wrong echo for a %zu-byte frame\n", n);
		exit(1);
	}
}

static void roundtrip(size_t n) {
	write_full(to_child, frame, frame_len);
	if (!read_full(from_child, reply, 4) || !read_full(from_child, reply + 4, get_be32(reply))) {
		fprintf(stderr, "raw_echo: the child closed its stdout\n");
		exit(1);
	}
	check_reply(n);
}

/* throughput: a writer thread keeps `conc` frames in flight until the deadline */
static sem_t window;
static volatile int64_t deadline;
static volatile long sent;
static volatile int writer_done;

static void *writer(void *arg) {
	(void)arg;
	for (;;) {
		sem_wait(&window);
		if (now_ns() >= deadline) break;
		__atomic_add_fetch(&sent, 1, __ATOMIC_SEQ_CST); /* before the write: the reader may then wait on it */
		write_full(to_child, frame, frame_len);
	}
	__atomic_store_n(&writer_done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void throughput(size_t n, long *calls, int64_t *ns) {
	sem_init(&window, 0, (unsigned)conc);
	sent = 0;
	writer_done = 0;
	int64_t start = now_ns();
	deadline = start + tput_ms * 1000000;
	pthread_t t;
	if (pthread_create(&t, NULL, writer, NULL)) die("pthread_create");
	long got = 0;
	for (;;) {
		if (__atomic_load_n(&writer_done, __ATOMIC_SEQ_CST) && got == __atomic_load_n(&sent, __ATOMIC_SEQ_CST)) break;
		if (got == __atomic_load_n(&sent, __ATOMIC_SEQ_CST)) {
			/* nothing in flight: let the writer run (or finish) */
			sched_yield();
			continue;
		}
		if (!read_full(from_child, reply, 4) || !read_full(from_child, reply + 4, get_be32(reply))) {
			fprintf(stderr, "raw_echo: the child closed its stdout\n");
			exit(1);
		}
		check_reply(n);
		got++;
		sem_post(&window);
	}
	*ns = now_ns() - start;
	pthread_join(t, NULL);
	sem_destroy(&window);
	*calls = got;
}

static pid_t start_child(const char *self) {
	int in[2], out[2];
	if (!strcmp(transport, "socketpair")) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) die("socketpair");
		in[0] = out[1] = sv[1];
		to_child = from_child = sv[0];
	} else {
		if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) die("pipe");
		if (!strcmp(transport, "pipe1m")) {
			if (fcntl(in[1], F_SETPIPE_SZ, 1 << 20) < 0 || fcntl(out[1], F_SETPIPE_SZ, 1 << 20) < 0)
				die("F_SETPIPE_SZ");
		} else if (strcmp(transport, "pipe")) {
			fprintf(stderr, "raw_echo: transport %s is not pipe, pipe1m or socketpair\n", transport);
			exit(2);
		}
		to_child = in[1];
		from_child = out[0];
	}
	pid_t pid = fork();
	if (pid < 0) die("fork");
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0) die("dup2");
		execl(self, self, "echo", (char *)NULL);
		die("exec");
	}
	if (in[0] != out[1]) { close(in[0]); close(out[1]); } else close(in[0]);
	return pid;
}

static int drive(int argc, char **argv) {
	parse(argc, argv);
	pid_t pid = start_child("/proc/self/exe");
	printf("{\"system\":\"%s\",\"payloads\":[", system_name);
	char *list = strdup(sizes);
	int first = 1;
	int64_t *lat = malloc(sizeof(int64_t) * (size_t)(lat_max > 0 ? lat_max : 1));
	for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
		size_t n = (size_t)atol(tok);
		frame_len = 4 + n;
		frame = malloc(frame_len);
		reply = malloc(frame_len);
		put_be32(frame, (uint32_t)n);
		memset(frame + 4, 'x', n);
		/* warm-up */
		int64_t t0 = now_ns();
		for (long i = 0; i < warm_max && (i < 3 || now_ns() - t0 < warm_ms * 1000000); i++) roundtrip(n);
		printf("%s{\"payload_bytes\":%zu", first ? "" : ",", n);
		first = 0;
		if (do_lat) {
			long k = 0;
			t0 = now_ns();
			while (k < lat_max && (k < lat_min || now_ns() - t0 < lat_ms * 1000000)) {
				int64_t a = now_ns();
				roundtrip(n);
				lat[k++] = now_ns() - a;
			}
			printf(",\"lat_ns\":[");
			for (long i = 0; i < k; i++) printf("%s%lld", i ? "," : "", (long long)lat[i]);
			printf("]");
		}
		if (do_tput) {
			long calls;
			int64_t ns;
			throughput(n, &calls, &ns);
			printf(",\"tput_calls\":%ld,\"tput_ns\":%lld", calls, (long long)ns);
		}
		printf("}");
		free(frame);
		free(reply);
	}
	printf("]}\n");
	fflush(stdout);
	close(to_child);
	if (from_child != to_child) close(from_child);
	int status;
	waitpid(pid, &status, 0);
	return 0;
}

int main(int argc, char **argv) {
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && !strcmp(argv[1], "echo")) return echo();
	if (argc >= 2 && !strcmp(argv[1], "drive")) return drive(argc, argv);
	fprintf(stderr, "usage: raw_echo echo | raw_echo drive system=NAME transport=pipe|pipe1m|socketpair sizes=16,1024 ...\n");
	return 2;
}
