/*
 * Single-precision GEMM on a WebAssembly heap, through OpenBLAS (cblas_sgemm).
 *
 * The wasm tensor backend keeps every tensor in one linear memory; this addon multiplies
 * matrices in place there (operands and output named by byte offsets into the heap's
 * ArrayBuffer), so no tensor is copied between JavaScript, wasm and native code.
 *
 *   gemm(heap, M, N, K, aOff, bOff, cOff, transA, transB, beta)
 *       C (M, N) = op(A) op(B) + beta * C, row-major and contiguous; op(A) is (M, K).
 *   gemmMany(heap, M, N, K, offsets, transA, transB)
 *       the same product (beta 0) for every (aOff, bOff, cOff) triple of a Float64Array.
 *   setThreads(n), threads(), config()
 *
 * Every offset and extent is checked against the heap before any memory is touched.
 */
#include <node_api.h>
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

extern void openblas_set_num_threads(int);
extern int openblas_get_num_threads(void);
extern char *openblas_get_config(void);

#define CHECK(call)                                                        \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      napi_throw_error(env, "MIXDISTILL_BLAS", "Node-API call failed: " #call); \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

static int get_heap(napi_env env, napi_value v, char **data, size_t *len) {
  bool is_ab = false;
  if (napi_is_arraybuffer(env, v, &is_ab) != napi_ok || !is_ab) {
    napi_throw_type_error(env, "MIXDISTILL_BLAS", "argument 0 (heap) must be an ArrayBuffer");
    return 0;
  }
  void *p = NULL;
  if (napi_get_arraybuffer_info(env, v, &p, len) != napi_ok) {
    napi_throw_error(env, "MIXDISTILL_BLAS", "cannot read the heap ArrayBuffer");
    return 0;
  }
  *data = (char *)p;
  return 1;
}

static int get_size(napi_env env, napi_value v, const char *name, double max, double *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0) || d > max || d != (double)(int64_t)d) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a non-negative integer (at most %.0f)", name, max);
    napi_throw_range_error(env, "MIXDISTILL_BLAS", msg);
    return 0;
  }
  *out = d;
  return 1;
}

/* A float matrix of `count` elements at byte offset `off` lies inside the heap and is 4-byte aligned. */
static int in_heap(napi_env env, const char *name, double off, double count, size_t len) {
  if (((int64_t)off & 3) != 0 || off + 4.0 * count > (double)len) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s at byte %.0f (%.0f floats) is outside the %zu-byte heap or unaligned", name, off, count, len);
    napi_throw_range_error(env, "MIXDISTILL_BLAS", msg);
    return 0;
  }
  return 1;
}

static napi_value do_gemm(napi_env env, napi_callback_info info, int many) {
  size_t argc = 10;
  napi_value argv[10];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  size_t want = many ? 7 : 10;
  if (argc < want) {
    napi_throw_type_error(env, "MIXDISTILL_BLAS", many ? "gemmMany(heap, M, N, K, offsets, transA, transB)" : "gemm(heap, M, N, K, aOff, bOff, cOff, transA, transB, beta)");
    return NULL;
  }
  char *heap;
  size_t len;
  if (!get_heap(env, argv[0], &heap, &len)) return NULL;
  double M, N, K;
  const double dimMax = 2147483647.0;
  if (!get_size(env, argv[1], "M", dimMax, &M) || !get_size(env, argv[2], "N", dimMax, &N) || !get_size(env, argv[3], "K", dimMax, &K)) return NULL;
  bool ta = false, tb = false;
  CHECK(napi_get_value_bool(env, argv[many ? 5 : 7], &ta));
  CHECK(napi_get_value_bool(env, argv[many ? 6 : 8], &tb));
  const int m = (int)M, n = (int)N, k = (int)K;
  const int lda = ta ? m : k, ldb = tb ? k : n;
  if (!many) {
    double a, b, c, beta;
    const double offMax = 9007199254740991.0;
    if (!get_size(env, argv[4], "aOff", offMax, &a) || !get_size(env, argv[5], "bOff", offMax, &b) || !get_size(env, argv[6], "cOff", offMax, &c)) return NULL;
    CHECK(napi_get_value_double(env, argv[9], &beta));
    if (!in_heap(env, "A", a, M * K, len) || !in_heap(env, "B", b, K * N, len) || !in_heap(env, "C", c, M * N, len)) return NULL;
    if (m > 0 && n > 0) {
      cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f,
                  (const float *)(heap + (size_t)a), lda, (const float *)(heap + (size_t)b), ldb, (float)beta,
                  (float *)(heap + (size_t)c), n);
    }
    return NULL;
  }
  bool is_ta = false;
  CHECK(napi_is_typedarray(env, argv[4], &is_ta));
  napi_typedarray_type type;
  size_t count = 0;
  void *offs = NULL;
  if (is_ta) CHECK(napi_get_typedarray_info(env, argv[4], &type, &count, &offs, NULL, NULL));
  if (!is_ta || type != napi_float64_array || count % 3 != 0) {
    napi_throw_type_error(env, "MIXDISTILL_BLAS", "offsets must be a Float64Array of (aOff, bOff, cOff) triples");
    return NULL;
  }
  const double *o = (const double *)offs;
  for (size_t i = 0; i < count; i += 3) {
    if (!in_heap(env, "A", o[i], M * K, len) || !in_heap(env, "B", o[i + 1], K * N, len) || !in_heap(env, "C", o[i + 2], M * N, len)) return NULL;
  }
  if (m == 0 || n == 0) return NULL;
  for (size_t i = 0; i < count; i += 3) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f,
                (const float *)(heap + (size_t)o[i]), lda, (const float *)(heap + (size_t)o[i + 1]), ldb, 0.0f,
                (float *)(heap + (size_t)o[i + 2]), n);
  }
  return NULL;
}

static napi_value gemm(napi_env env, napi_callback_info info) { return do_gemm(env, info, 0); }
static napi_value gemm_many(napi_env env, napi_callback_info info) { return do_gemm(env, info, 1); }

static napi_value set_threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  double n;
  if (argc < 1 || !get_size(env, argv[0], "threads", 1024, &n) || n < 1) {
    if (argc < 1) napi_throw_type_error(env, "MIXDISTILL_BLAS", "setThreads(n) needs n >= 1");
    return NULL;
  }
  openblas_set_num_threads((int)n);
  return NULL;
}

static napi_value threads(napi_env env, napi_callback_info info) {
  napi_value r;
  CHECK(napi_create_int32(env, openblas_get_num_threads(), &r));
  return r;
}

static napi_value config(napi_env env, napi_callback_info info) {
  napi_value r;
  const char *c = openblas_get_config();
  CHECK(napi_create_string_utf8(env, c ? c : "", NAPI_AUTO_LENGTH, &r));
  return r;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"gemm", NULL, gemm, NULL, NULL, NULL, napi_default, NULL},
      {"gemmMany", NULL, gemm_many, NULL, NULL, NULL, napi_default, NULL},
      {"setThreads", NULL, set_threads, NULL, NULL, NULL, napi_default, NULL},
      {"threads", NULL, threads, NULL, NULL, NULL, napi_default, NULL},
      {"config", NULL, config, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE_INIT() { return init(env, exports); }
