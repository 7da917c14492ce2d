#include "jg_openssl.h"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

int jg_ossl_sha256(const void *data, size_t len, uint8_t out[32]) {
    return SHA256((const unsigned char *)data, len, out) ? 0 : -1;
}

int jg_ossl_hmac_sha256(const void *key, size_t klen, const void *data, size_t dlen, uint8_t out[32]) {
    unsigned int olen = 32;
    static const unsigned char empty = 0;
    if (klen == 0) key = &empty;
    return HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)data, dlen, out, &olen) && olen == 32 ? 0 : -1;
}

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

jg_ossl_sha256_ctx *jg_ossl_sha256_new(void) {
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) { EVP_MD_CTX_free(md); return NULL; }
    jg_ossl_sha256_ctx *c = OPENSSL_malloc(sizeof(*c));
    if (!c) { EVP_MD_CTX_free(md); return NULL; }
    c->md = md;
    return c;
}
int jg_ossl_sha256_update(jg_ossl_sha256_ctx *c, const void *data, size_t len) {
    return EVP_DigestUpdate(c->md, data, len) == 1 ? 0 : -1;
}
int jg_ossl_sha256_final(jg_ossl_sha256_ctx *c, uint8_t out[32]) {
    unsigned int l = 32;
    return EVP_DigestFinal_ex(c->md, out, &l) == 1 && l == 32 ? 0 : -1;
}
void jg_ossl_sha256_free(jg_ossl_sha256_ctx *c) {
    if (!c) return;
    EVP_MD_CTX_free(c->md);
    OPENSSL_free(c);
}
