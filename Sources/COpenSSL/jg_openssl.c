#include "jg_openssl.h"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <string.h>

// One-shot SHA-256 and HMAC-SHA256 over the low-level SHA256_* functions: since OpenSSL 3, SHA256() and
// HMAC() fetch their algorithm by name from the provider store on every call (locks, string compares,
// allocations), which cost the gate 0.5 and 2.4 µs per request; these cost 0.2 and 0.4 µs, same output.
// The low-level functions are deprecated in 3.0 but remain in every 3.x libcrypto.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
int jg_ossl_sha256(const void *data, size_t len, uint8_t out[32]) {
    SHA256_CTX c;
    int ok = SHA256_Init(&c) == 1 && SHA256_Update(&c, data, len) == 1 && SHA256_Final(out, &c) == 1;
    OPENSSL_cleanse(&c, sizeof c);
    return ok ? 0 : -1;
}

// RFC 2104 with a 64-byte block: keys longer than a block are hashed first, shorter ones zero-padded.
int jg_ossl_hmac_sha256(const void *key, size_t klen, const void *data, size_t dlen, uint8_t out[32]) {
    unsigned char k[64] = {0}, pad[64], inner[32];
    SHA256_CTX c;
    int ok = 1;
    if (klen > sizeof k) ok = jg_ossl_sha256(key, klen, k) == 0;
    else if (klen > 0) memcpy(k, key, klen);
    for (size_t i = 0; i < sizeof pad; i++) pad[i] = k[i] ^ 0x36;
    ok = ok && SHA256_Init(&c) == 1 && SHA256_Update(&c, pad, sizeof pad) == 1 && SHA256_Update(&c, data, dlen) == 1 &&
         SHA256_Final(inner, &c) == 1;
    for (size_t i = 0; i < sizeof pad; i++) pad[i] = k[i] ^ 0x5c;
    ok = ok && SHA256_Init(&c) == 1 && SHA256_Update(&c, pad, sizeof pad) == 1 && SHA256_Update(&c, inner, sizeof inner) == 1 &&
         SHA256_Final(out, &c) == 1;
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(inner, sizeof inner);
    OPENSSL_cleanse(&c, sizeof c);
    return ok ? 0 : -1;
}
#pragma GCC diagnostic pop

int jg_ossl_memcmp(const void *a, const void *b, size_t len) { return CRYPTO_memcmp(a, b, len); }

int jg_ossl_random(uint8_t *out, size_t len) { return RAND_bytes(out, (int)len) == 1 ? 0 : -1; }

int jg_ossl_ed25519_public(const uint8_t priv[32], uint8_t pub[32]) {
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, 32);
    if (!k) return -1;
    size_t l = 32;
    int ok = EVP_PKEY_get_raw_public_key(k, pub, &l) == 1 && l == 32;
    EVP_PKEY_free(k);
    return ok ? 0 : -1;
}

int jg_ossl_ed25519_sign(const uint8_t priv[32], const void *msg, size_t len, uint8_t sig[64]) {
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, 32);
    if (!k) return -1;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    size_t sl = 64;
    int ok = c && EVP_DigestSignInit(c, NULL, NULL, NULL, k) == 1 &&
             EVP_DigestSign(c, sig, &sl, (const unsigned char *)msg, len) == 1 && sl == 64;
    EVP_MD_CTX_free(c);
    EVP_PKEY_free(k);
    return ok ? 0 : -1;
}

int jg_ossl_ed25519_verify(const uint8_t pub[32], const void *msg, size_t len, const uint8_t sig[64]) {
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    if (!k) return -1;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int r = -1;
    if (c && EVP_DigestVerifyInit(c, NULL, NULL, NULL, k) == 1)
        r = EVP_DigestVerify(c, sig, 64, (const unsigned char *)msg, len) == 1 ? 1 : 0;
    EVP_MD_CTX_free(c);
    EVP_PKEY_free(k);
    return r;
}

struct jg_ossl_sha256_ctx { EVP_MD_CTX *md; };

/* EVP_sha256() makes every EVP_DigestInit_ex look the implementation up in the provider store again
   (about half the cost of hashing an audit line); the digest is fetched once and kept instead. */
static EVP_MD *sha256_fetched;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static void sha256_fetch(void) { sha256_fetched = EVP_MD_fetch(NULL, "SHA256", NULL); }
static const EVP_MD *sha256_md(void) {
    pthread_once(&sha256_once, sha256_fetch);
    return sha256_fetched ? sha256_fetched : EVP_sha256();
}

jg_ossl_sha256_ctx *jg_ossl_sha256_new(void) {
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, sha256_md(), NULL) != 1) { EVP_MD_CTX_free(md); return NULL; }
    jg_ossl_sha256_ctx *c = OPENSSL_malloc(sizeof(*c));
    if (!c) { EVP_MD_CTX_free(md); return NULL; }
    c->md = md;
    return c;
}
int jg_ossl_sha256_update(jg_ossl_sha256_ctx *c, const void *data, size_t len) {
    if (!c) return -1; /* jg_ossl_sha256_new failed */
    return EVP_DigestUpdate(c->md, data, len) == 1 ? 0 : -1;
}
int jg_ossl_sha256_final(jg_ossl_sha256_ctx *c, uint8_t out[32]) {
    if (!c) return -1;
    unsigned int l = 32;
    return EVP_DigestFinal_ex(c->md, out, &l) == 1 && l == 32 ? 0 : -1;
}
void jg_ossl_sha256_free(jg_ossl_sha256_ctx *c) {
    if (!c) return;
    EVP_MD_CTX_free(c->md);
    OPENSSL_free(c);
}

static int gcm(int enc, const uint8_t key[32], const uint8_t nonce[12], const void *aad, size_t aad_len,
               const void *in, size_t len, uint8_t *out, uint8_t tag[16]) {
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c) return -1;
    int ok = 0, l = 0;
    if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1) goto done;
    if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1) goto done;
    if (EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) != 1) goto done;
    if (aad_len && EVP_CipherUpdate(c, NULL, &l, aad, (int)aad_len) != 1) goto done;
    if (len && EVP_CipherUpdate(c, out, &l, in, (int)len) != 1) goto done;
    if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag) != 1) goto done;
    if (EVP_CipherFinal_ex(c, out + l, &l) != 1) goto done;
    if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1) goto done;
    ok = 1;
done:
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

int jg_ossl_aes256gcm_seal(const uint8_t key[32], const uint8_t nonce[12], const void *aad, size_t aad_len,
                           const void *in, size_t len, uint8_t *out, uint8_t tag[16]) {
    return gcm(1, key, nonce, aad, aad_len, in, len, out, tag);
}

int jg_ossl_aes256gcm_open(const uint8_t key[32], const uint8_t nonce[12], const void *aad, size_t aad_len,
                           const void *in, size_t len, const uint8_t tag[16], uint8_t *out) {
    return gcm(0, key, nonce, aad, aad_len, in, len, out, (uint8_t *)tag);
}

struct jg_ossl_gcm_key { EVP_CIPHER_CTX *c; };

jg_ossl_gcm_key *jg_ossl_gcm_key_new(const uint8_t key[32]) {
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (!c) return NULL;
    if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1 ||
        EVP_EncryptInit_ex(c, NULL, NULL, key, NULL) != 1) {
        EVP_CIPHER_CTX_free(c);
        return NULL;
    }
    jg_ossl_gcm_key *k = OPENSSL_malloc(sizeof(*k));
    if (!k) { EVP_CIPHER_CTX_free(c); return NULL; }
    k->c = c;
    return k;
}

int jg_ossl_gcm_key_seal(jg_ossl_gcm_key *k, const uint8_t nonce[12], const void *aad, size_t aad_len,
                         const void *in, size_t len, uint8_t *out, uint8_t tag[16]) {
    int l = 0;
    /* A NULL key keeps the expanded key; the nonce restarts the GCM state for this message. */
    if (!k || EVP_EncryptInit_ex(k->c, NULL, NULL, NULL, nonce) != 1) return -1;
    if (aad_len && EVP_EncryptUpdate(k->c, NULL, &l, aad, (int)aad_len) != 1) return -1;
    l = 0;
    if (len && EVP_EncryptUpdate(k->c, out, &l, in, (int)len) != 1) return -1;
    if (EVP_EncryptFinal_ex(k->c, out + l, &l) != 1) return -1;
    return EVP_CIPHER_CTX_ctrl(k->c, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1 ? 0 : -1;
}

void jg_ossl_gcm_key_free(jg_ossl_gcm_key *k) {
    if (!k) return;
    EVP_CIPHER_CTX_free(k->c);
    OPENSSL_free(k);
}

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t jg_secret_span(size_t len) {
    long page = sysconf(_SC_PAGESIZE);
    size_t p = page > 0 ? (size_t)page : 4096;
    if (len == 0) len = 1;
    return (len + p - 1) / p * p;
}

void *jg_ossl_secret_alloc(size_t len, int *locked) {
    size_t span = jg_secret_span(len);
    void *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    (void)madvise(p, span, MADV_DONTDUMP);
#ifdef MADV_WIPEONFORK
    (void)madvise(p, span, MADV_WIPEONFORK);
#endif
    int l = mlock(p, span) == 0;
    if (locked) *locked = l;
    return p;
}

void *jg_ossl_secret_dup(const void *src, size_t len, int *locked) {
    void *p = jg_ossl_secret_alloc(len, locked);
    if (p && len) memcpy(p, src, len);
    return p;
}

void jg_ossl_secret_free(void *p, size_t len) {
    if (!p) return;
    size_t span = jg_secret_span(len);
    explicit_bzero(p, span);
    (void)munlock(p, span);
    (void)munmap(p, span);
}

void jg_ossl_wipe(void *p, size_t len) {
    if (p && len) explicit_bzero(p, len);
}
