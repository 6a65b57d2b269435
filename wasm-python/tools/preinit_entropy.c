/* Deterministic entropy for componentize-py's pre-initialization.
 *
 * policy-host preloads this library into componentize-py (LD_PRELOAD) with
 * POLICY_HOST_PREINIT_SEED set to 32 hex digits: the host's build seed.
 * getrandom(2), getentropy(3) and syscall(SYS_getrandom) then return a
 * SipHash-2-4 keystream of that seed instead of the kernel's randomness.
 * CPython draws its str hash secret from it while the snapshot is taken, so
 * every policy built on one host allocates its heap the same way up to its
 * own import and the snapshots share most of their pages (see
 * docs/shared-runtime.md). Without the variable the calls go to the kernel.
 * Randomness inside running instances never comes from here: the sandbox's
 * WASI random is the host's own generator.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int state = -1; /* -1 unread, 0 no seed, 1 seeded */
static uint64_t k0, k1, counter;

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define ROUND                                                        \
  do {                                                               \
    v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);        \
    v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                           \
    v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                           \
    v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);        \
  } while (0)

/* SipHash-2-4 of the one 8-byte message m under (k0, k1). */
static uint64_t siphash_u64(uint64_t m) {
  uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
  uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
  uint64_t last = (uint64_t)8 << 56;
  v3 ^= m; ROUND; ROUND; v0 ^= m;
  v3 ^= last; ROUND; ROUND; v0 ^= last;
  v2 ^= 0xff; ROUND; ROUND; ROUND; ROUND;
  return v0 ^ v1 ^ v2 ^ v3;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

static void read_seed(void) {
  const char *seed = getenv("POLICY_HOST_PREINIT_SEED");
  state = 0;
  if (seed == NULL || strlen(seed) != 32) return;
  uint64_t key[2] = {0, 0};
  for (int i = 0; i < 32; i++) {
    int d = hex_digit(seed[i]);
    if (d < 0) return;
    key[i / 16] = (key[i / 16] << 4) | (uint64_t)d;
  }
  k0 = key[0]; k1 = key[1]; state = 1;
}

/* Fills buf from the keystream; 0 when there is no seed. */
static int fill(void *buf, size_t n) {
  pthread_mutex_lock(&lock);
  if (state < 0) read_seed();
  int seeded = state;
  for (size_t i = 0; seeded && i < n; i += 8) {
    uint64_t block = siphash_u64(counter++);
    memcpy((unsigned char *)buf + i, &block, n - i < 8 ? n - i : 8);
  }
  pthread_mutex_unlock(&lock);
  return seeded;
}

typedef long (*syscall_fn)(long, ...);

static long real_getrandom(void *buf, size_t n, unsigned flags) {
  static syscall_fn real;
  if (!real) real = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
  return real(SYS_getrandom, buf, n, flags);
}

ssize_t getrandom(void *buf, size_t n, unsigned flags) {
  if (fill(buf, n)) return (ssize_t)n;
  return real_getrandom(buf, n, flags);
}

int getentropy(void *buf, size_t n) {
  if (n > 256) return -1;
  if (fill(buf, n)) return 0;
  return real_getrandom(buf, n, 0) == (long)n ? 0 : -1;
}

long syscall(long nr, ...) {
  va_list ap;
  va_start(ap, nr);
  long a[6];
  for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
  va_end(ap);
  if (nr == SYS_getrandom && fill((void *)a[0], (size_t)a[1])) return a[1];
  static syscall_fn real;
  if (!real) real = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
  return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
