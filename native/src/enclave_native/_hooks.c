/*
 * libmongocrypt's crypto hooks over the system OpenSSL (libcrypto 3).
 *
 * pymongocrypt's Linux wheel ships a libmongocrypt built without crypto, so by default every
 * AES-256 and HMAC it needs is a Python callback. These are the same primitives in C, with the
 * exact signatures of mongocrypt.h (mongocrypt_crypto_fn, mongocrypt_hmac_fn,
 * mongocrypt_hash_fn, mongocrypt_random_fn). Python registers them through
 * mongocrypt_setopt_crypto_hooks (see storage/mongo/nativecrypto). Only the primitives are
 * here: libmongocrypt keeps the ciphertext format, the padding, the MAC check and the KMS logic.
 *
 * The hooks run while cffi has released the GIL, possibly on several threads at once: they
 * never touch the Python API and only read state that is set before they are registered.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

/* From mongocrypt.h: "The mongocrypt_binary_t struct definition is public. Consumers may rely
 * on the struct layout." The status is opaque and set through mongocrypt_status_set. */
typedef struct _mongocrypt_binary_t {
    void *data;
    uint32_t len;
} mongocrypt_binary_t;

typedef struct _mongocrypt_status_t mongocrypt_status_t;

typedef enum {
    MONGOCRYPT_STATUS_OK = 0,
    MONGOCRYPT_STATUS_ERROR_CLIENT = 1,
    MONGOCRYPT_STATUS_ERROR_KMS = 2,
    MONGOCRYPT_STATUS_ERROR_CRYPT_SHARED = 3,
} mongocrypt_status_type_t;

typedef void (*mongocrypt_status_set_fn)(mongocrypt_status_t *status,
                                         mongocrypt_status_type_t type,
                                         uint32_t code,
                                         const char *message,
                                         int32_t message_len);

#define AES_256_KEY_LEN 32u
#define AES_BLOCK_LEN 16u
#define SHA_256_LEN 32u
#define SHA_512_LEN 64u

/* Set once by bind_status_setter(), before any hook is registered. */
static mongocrypt_status_set_fn status_set = NULL;

/* Fetched once at import; shared read-only by every call (OpenSSL 3 makes them safe to share).
 * They live as long as the process: a mongocrypt_t may call the hooks until it is destroyed. */
static EVP_CIPHER *aes_256_cbc = NULL;
static EVP_CIPHER *aes_256_ctr = NULL;
static EVP_MD *sha_256_md = NULL;
static EVP_MAC_CTX *hmac_sha_512_proto = NULL;
static EVP_MAC_CTX *hmac_sha_256_proto = NULL;

/* How many times a hook was entered: lets the self-test see the hooks really are in use. */
static atomic_ullong hook_calls = 0;

static bool fail(mongocrypt_status_t *status, const char *message) {
    ERR_clear_error();
    if (status != NULL && status_set != NULL) {
        status_set(status, MONGOCRYPT_STATUS_ERROR_CLIENT, 1, message, -1);
    }
    return false;
}

static void count_call(void) {
    atomic_fetch_add_explicit(&hook_calls, 1, memory_order_relaxed);
}

static bool readable(const mongocrypt_binary_t *b) {
    return b != NULL && (b->len == 0 || b->data != NULL);
}

/* AES-256 without padding: libmongocrypt pads (PKCS#7) before encrypting and strips the padding
 * after decrypting. CBC input must be a non-empty whole number of blocks; CTR is a stream. */
static bool aes_256(const EVP_CIPHER *cipher,
                    int encrypt,
                    bool whole_blocks,
                    mongocrypt_binary_t *key,
                    mongocrypt_binary_t *iv,
                    mongocrypt_binary_t *in,
                    mongocrypt_binary_t *out,
                    uint32_t *bytes_written,
                    mongocrypt_status_t *status) {
    count_call();
    if (bytes_written == NULL) {
        return fail(status, "enclave_native: bytes_written is NULL");
    }
    *bytes_written = 0;
    if (!readable(key) || !readable(iv) || !readable(in) || !readable(out)) {
        return fail(status, "enclave_native: missing AES argument");
    }
    if (key->len != AES_256_KEY_LEN) {
        return fail(status, "enclave_native: AES-256 key must be 32 bytes");
    }
    if (iv->len != AES_BLOCK_LEN) {
        return fail(status, "enclave_native: AES IV must be 16 bytes");
    }
    if (in->len > (uint32_t)INT_MAX) {
        return fail(status, "enclave_native: AES input too long");
    }
    if (whole_blocks && (in->len == 0 || in->len % AES_BLOCK_LEN != 0)) {
        return fail(status, "enclave_native: AES-CBC input is not a whole number of blocks");
    }
    if (out->len < in->len) {
        return fail(status, "enclave_native: AES output buffer too small");
    }
    if (in->len == 0) {
        return true; /* CTR over nothing */
    }

    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        return fail(status, "enclave_native: out of memory");
    }
    int updated = 0;
    int finalised = 0;
    uint8_t *dst = (uint8_t *)out->data;
    bool ok = EVP_CipherInit_ex2(ctx, cipher, key->data, iv->data, encrypt, NULL) == 1
              && EVP_CIPHER_CTX_set_padding(ctx, 0) == 1
              && EVP_CipherUpdate(ctx, dst, &updated, in->data, (int)in->len) == 1
              && updated >= 0 && (uint32_t)updated <= in->len
              && EVP_CipherFinal_ex(ctx, dst + updated, &finalised) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        return fail(status, "enclave_native: OpenSSL AES operation failed");
    }
    if (finalised < 0 || (uint32_t)updated + (uint32_t)finalised != in->len) {
        return fail(status, "enclave_native: AES wrote an unexpected length");
    }
    *bytes_written = in->len;
    return true;
}

static bool hook_aes_256_cbc_encrypt(void *ctx,
                                     mongocrypt_binary_t *key,
                                     mongocrypt_binary_t *iv,
                                     mongocrypt_binary_t *in,
                                     mongocrypt_binary_t *out,
                                     uint32_t *bytes_written,
                                     mongocrypt_status_t *status) {
    (void)ctx;
    return aes_256(aes_256_cbc, 1, true, key, iv, in, out, bytes_written, status);
}

static bool hook_aes_256_cbc_decrypt(void *ctx,
                                     mongocrypt_binary_t *key,
                                     mongocrypt_binary_t *iv,
                                     mongocrypt_binary_t *in,
                                     mongocrypt_binary_t *out,
                                     uint32_t *bytes_written,
                                     mongocrypt_status_t *status) {
    (void)ctx;
    return aes_256(aes_256_cbc, 0, true, key, iv, in, out, bytes_written, status);
}

static bool hook_aes_256_ctr_encrypt(void *ctx,
                                     mongocrypt_binary_t *key,
                                     mongocrypt_binary_t *iv,
                                     mongocrypt_binary_t *in,
                                     mongocrypt_binary_t *out,
                                     uint32_t *bytes_written,
                                     mongocrypt_status_t *status) {
    (void)ctx;
    return aes_256(aes_256_ctr, 1, false, key, iv, in, out, bytes_written, status);
}

static bool hook_aes_256_ctr_decrypt(void *ctx,
                                     mongocrypt_binary_t *key,
                                     mongocrypt_binary_t *iv,
                                     mongocrypt_binary_t *in,
                                     mongocrypt_binary_t *out,
                                     uint32_t *bytes_written,
                                     mongocrypt_status_t *status) {
    (void)ctx;
    return aes_256(aes_256_ctr, 0, false, key, iv, in, out, bytes_written, status);
}

/* HMAC of any non-empty key (libmongocrypt checks its own 32-byte keys; the KMS request signer
 * uses HMAC-SHA-256 with keys of other lengths). The output buffer must be exactly the digest. */
static bool hmac(const EVP_MAC_CTX *proto,
                 uint32_t digest_len,
                 mongocrypt_binary_t *key,
                 mongocrypt_binary_t *in,
                 mongocrypt_binary_t *out,
                 mongocrypt_status_t *status) {
    count_call();
    if (!readable(key) || !readable(in) || !readable(out)) {
        return fail(status, "enclave_native: missing HMAC argument");
    }
    if (key->len == 0) {
        return fail(status, "enclave_native: HMAC key is empty");
    }
    if (out->len != digest_len) {
        return fail(status, "enclave_native: HMAC output buffer has the wrong size");
    }
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(proto);
    if (ctx == NULL) {
        return fail(status, "enclave_native: out of memory");
    }
    size_t written = 0;
    bool ok = EVP_MAC_init(ctx, key->data, key->len, NULL) == 1
              && (in->len == 0 || EVP_MAC_update(ctx, in->data, in->len) == 1)
              && EVP_MAC_final(ctx, out->data, &written, out->len) == 1;
    EVP_MAC_CTX_free(ctx);
    if (!ok) {
        return fail(status, "enclave_native: OpenSSL HMAC failed");
    }
    if (written != digest_len) {
        return fail(status, "enclave_native: HMAC wrote an unexpected length");
    }
    return true;
}

static bool hook_hmac_sha_512(void *ctx,
                              mongocrypt_binary_t *key,
                              mongocrypt_binary_t *in,
                              mongocrypt_binary_t *out,
                              mongocrypt_status_t *status) {
    (void)ctx;
    return hmac(hmac_sha_512_proto, SHA_512_LEN, key, in, out, status);
}

static bool hook_hmac_sha_256(void *ctx,
                              mongocrypt_binary_t *key,
                              mongocrypt_binary_t *in,
                              mongocrypt_binary_t *out,
                              mongocrypt_status_t *status) {
    (void)ctx;
    return hmac(hmac_sha_256_proto, SHA_256_LEN, key, in, out, status);
}

static bool hook_sha_256(void *ctx,
                         mongocrypt_binary_t *in,
                         mongocrypt_binary_t *out,
                         mongocrypt_status_t *status) {
    (void)ctx;
    count_call();
    if (!readable(in) || !readable(out)) {
        return fail(status, "enclave_native: missing SHA-256 argument");
    }
    if (out->len != SHA_256_LEN) {
        return fail(status, "enclave_native: SHA-256 output buffer has the wrong size");
    }
    unsigned int written = 0;
    static const uint8_t empty[1] = {0};
    const void *data = in->len == 0 ? (const void *)empty : in->data;
    if (EVP_Digest(data, in->len, out->data, &written, sha_256_md, NULL) != 1) {
        return fail(status, "enclave_native: OpenSSL SHA-256 failed");
    }
    if (written != SHA_256_LEN) {
        return fail(status, "enclave_native: SHA-256 wrote an unexpected length");
    }
    return true;
}

static bool hook_secure_random(void *ctx,
                               mongocrypt_binary_t *out,
                               uint32_t count,
                               mongocrypt_status_t *status) {
    (void)ctx;
    count_call();
    if (!readable(out)) {
        return fail(status, "enclave_native: missing random output");
    }
    if (out->len != count) {
        return fail(status, "enclave_native: random output buffer has the wrong size");
    }
    if (count > (uint32_t)INT_MAX) {
        return fail(status, "enclave_native: too many random bytes asked for");
    }
    if (count == 0) {
        return true;
    }
    if (RAND_bytes(out->data, (int)count) != 1) {
        return fail(status, "enclave_native: OpenSSL RAND_bytes failed");
    }
    return true;
}

/* ---- Python module ---------------------------------------------------------------------- */

static PyObject *py_hook_addresses(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return Py_BuildValue(
        "{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K}",
        "aes_256_cbc_encrypt", (unsigned long long)(uintptr_t)&hook_aes_256_cbc_encrypt,
        "aes_256_cbc_decrypt", (unsigned long long)(uintptr_t)&hook_aes_256_cbc_decrypt,
        "aes_256_ctr_encrypt", (unsigned long long)(uintptr_t)&hook_aes_256_ctr_encrypt,
        "aes_256_ctr_decrypt", (unsigned long long)(uintptr_t)&hook_aes_256_ctr_decrypt,
        "hmac_sha_512", (unsigned long long)(uintptr_t)&hook_hmac_sha_512,
        "hmac_sha_256", (unsigned long long)(uintptr_t)&hook_hmac_sha_256,
        "sha_256", (unsigned long long)(uintptr_t)&hook_sha_256,
        "secure_random", (unsigned long long)(uintptr_t)&hook_secure_random);
}

static PyObject *py_bind_status_setter(PyObject *self, PyObject *arg) {
    (void)self;
    unsigned long long address = PyLong_AsUnsignedLongLong(arg);
    if (PyErr_Occurred()) {
        return NULL;
    }
    if (address == 0) {
        PyErr_SetString(PyExc_ValueError, "mongocrypt_status_set's address is NULL");
        return NULL;
    }
    mongocrypt_status_set_fn fn = (mongocrypt_status_set_fn)(uintptr_t)address;
    if (status_set != NULL && status_set != fn) {
        PyErr_SetString(PyExc_RuntimeError, "a different mongocrypt_status_set is already bound");
        return NULL;
    }
    status_set = fn;
    Py_RETURN_NONE;
}

static PyObject *py_calls(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return PyLong_FromUnsignedLongLong(atomic_load_explicit(&hook_calls, memory_order_relaxed));
}

static PyObject *py_openssl_version(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return PyUnicode_FromString(OpenSSL_version(OPENSSL_VERSION));
}

static EVP_MAC_CTX *hmac_prototype(EVP_MAC *mac, const char *digest) {
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    if (ctx == NULL) {
        return NULL;
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_CTX_set_params(ctx, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static int fetch_algorithms(void) {
    aes_256_cbc = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
    aes_256_ctr = EVP_CIPHER_fetch(NULL, "AES-256-CTR", NULL);
    sha_256_md = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    EVP_MAC *mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
    if (mac != NULL) {
        hmac_sha_512_proto = hmac_prototype(mac, "SHA2-512");
        hmac_sha_256_proto = hmac_prototype(mac, "SHA2-256");
        EVP_MAC_free(mac); /* the contexts keep their own reference */
    }
    if (aes_256_cbc == NULL || aes_256_ctr == NULL || sha_256_md == NULL
        || hmac_sha_512_proto == NULL || hmac_sha_256_proto == NULL) {
        EVP_CIPHER_free(aes_256_cbc);
        EVP_CIPHER_free(aes_256_ctr);
        EVP_MD_free(sha_256_md);
        EVP_MAC_CTX_free(hmac_sha_512_proto);
        EVP_MAC_CTX_free(hmac_sha_256_proto);
        aes_256_cbc = aes_256_ctr = NULL;
        sha_256_md = NULL;
        hmac_sha_512_proto = hmac_sha_256_proto = NULL;
        ERR_clear_error();
        return -1;
    }
    return 0;
}

static PyMethodDef methods[] = {
    {"hook_addresses", py_hook_addresses, METH_NOARGS,
     "The hooks' addresses by name, to cast to pymongocrypt's cffi function-pointer types."},
    {"bind_status_setter", py_bind_status_setter, METH_O,
     "Bind the address of libmongocrypt's mongocrypt_status_set, used to report errors."},
    {"calls", py_calls, METH_NOARGS, "How many times any hook was entered in this process."},
    {"openssl_version", py_openssl_version, METH_NOARGS, "The OpenSSL the hooks run on."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "enclave_native._hooks", "libmongocrypt crypto hooks over OpenSSL.",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__hooks(void) {
    if (aes_256_cbc == NULL && fetch_algorithms() != 0) {
        PyErr_SetString(PyExc_ImportError, "OpenSSL lacks AES-256-CBC/CTR, SHA-256 or HMAC");
        return NULL;
    }
    return PyModule_Create(&module);
}
