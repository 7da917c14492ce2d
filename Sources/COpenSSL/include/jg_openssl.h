// Why: OpenSSL's EVP API is macro- and pointer-heavy; Swift sees only these fixed-size calls.
// Return 0 on success, -1 on failure. No policy lives here.
#pragma once
#include <stddef.h>
#include <stdint.h>

int jg_ossl_sha256(const void *data, size_t len, uint8_t out[32]);
int jg_ossl_hmac_sha256(const void *key, size_t klen, const void *data, size_t dlen, uint8_t out[32]);
/// Constant-time comparison: 0 when equal.
int jg_ossl_memcmp(const void *a, const void *b, size_t len);
int jg_ossl_random(uint8_t *out, size_t len);
int jg_ossl_ed25519_public(const uint8_t priv[32], uint8_t pub[32]);
int jg_ossl_ed25519_sign(const uint8_t priv[32], const void *msg, size_t len, uint8_t sig[64]);
/// 1 valid, 0 invalid, -1 error.
int jg_ossl_ed25519_verify(const uint8_t pub[32], const void *msg, size_t len, const uint8_t sig[64]);

/// Incremental SHA-256 for hashing a record from its parts without joining them.
typedef struct jg_ossl_sha256_ctx jg_ossl_sha256_ctx;
jg_ossl_sha256_ctx *jg_ossl_sha256_new(void);
int jg_ossl_sha256_update(jg_ossl_sha256_ctx *c, const void *data, size_t len);
int jg_ossl_sha256_final(jg_ossl_sha256_ctx *c, uint8_t out[32]);
void jg_ossl_sha256_free(jg_ossl_sha256_ctx *c);
/// AES-256-GCM: seals `len` bytes with a 12-byte nonce and `aad`; out gets len bytes, tag 16 bytes.
int jg_ossl_aes256gcm_seal(const uint8_t key[32], const uint8_t nonce[12], const void *aad, size_t aad_len,
                           const void *in, size_t len, uint8_t *out, uint8_t tag[16]);
/// Opens a sealed buffer; returns 0 only when the tag verifies.
int jg_ossl_aes256gcm_open(const uint8_t key[32], const uint8_t nonce[12], const void *aad, size_t aad_len,
                           const void *in, size_t len, const uint8_t tag[16], uint8_t *out);

/// AES-256-GCM with the key schedule kept: one context per key, reused for every message sealed with it.
typedef struct jg_ossl_gcm_key jg_ossl_gcm_key;
jg_ossl_gcm_key *jg_ossl_gcm_key_new(const uint8_t key[32]);
/// As jg_ossl_aes256gcm_seal, under the context's key.
int jg_ossl_gcm_key_seal(jg_ossl_gcm_key *k, const uint8_t nonce[12], const void *aad, size_t aad_len,
                         const void *in, size_t len, uint8_t *out, uint8_t tag[16]);
void jg_ossl_gcm_key_free(jg_ossl_gcm_key *k);

/// Memory for key material: its own anonymous mapping (rounded up to pages), excluded from core dumps
/// (MADV_DONTDUMP), zero in any forked child (MADV_WIPEONFORK: the broker forks tool runs), and locked
/// (mlock) when RLIMIT_MEMLOCK allows; *locked says whether it is. NULL with errno on failure.
void *jg_ossl_secret_alloc(size_t len, int *locked);
/// jg_ossl_secret_alloc, then `len` bytes copied in from `src`.
void *jg_ossl_secret_dup(const void *src, size_t len, int *locked);
/// Wipes (explicit_bzero), unlocks and unmaps what jg_ossl_secret_alloc returned for `len`.
void jg_ossl_secret_free(void *p, size_t len);
/// explicit_bzero: a store the compiler may not drop.
void jg_ossl_wipe(void *p, size_t len);
