// edsig: Ed25519 (RFC 8032 section 5.1) and SHA-512 (FIPS 180-4) in C for the device's firmware.
//
// The curve arithmetic is Monocypher 4.0.3 (fetched pinned by host_tools/enrolctl/native.py); SHA-512
// is mbedtls, which both images already carry for TLS (the unix runtime's lib/mbedtls, ESP-IDF's
// component on the ESP32, where it may use the SHA accelerator).  The same file builds into the
// 32-bit unix runtime and the ESP32 image.  Nothing here allocates on the MicroPython heap but the
// results (and a hasher object): the arithmetic lives on the C stack (about 2 KB for a verify).
//
//   edsig.sha512([data])             hashlib-like: update(buf), digest() (the hasher stays usable)
//   edsig.public_key(seed)           32 bytes
//   edsig.sign(seed, msg[, pub])     64 bytes: R || S, deterministic (RFC 8032 5.1.6); pub, if
//                                    given, must be the seed's key (ValueError otherwise)
//   edsig.check(pub, sig, digest)    True if sig holds, digest = SHA-512(R || pub || msg) (64 bytes,
//                                    hashed by the caller so a long message can be streamed)
//   edsig.secp128r1_verify(msg, sig, key)
//                                    ECDSA on SEC 2's secp128r1 with no hash (an NTAG21x's NXP
//                                    originality signature over its UID, AN11350); key 04 || X || Y,
//                                    sig r || s
//   edsig.pbkdf2_sha256(password, salt, iterations, dklen)
//                                    PBKDF2-HMAC-SHA256 (RFC 8018 5.2): an officer's PIN verifier
//                                    (4,096 iterations: 8,192 SHA-256 blocks, the pads hashed once)
//
// The check is cofactorless, [S]B - [k]A encoded and compared with R's 32 bytes, as OpenSSL's
// ED25519_verify does: a non-canonical R and S >= L are refused.  Monocypher's own
// crypto_eddsa_check_equation multiplies by the cofactor, so it would accept signatures OpenSSL
// refuses; the check below reuses its group law and window tables, hence the whole library is
// compiled into this translation unit.

#include <string.h>

#include "py/runtime.h"
#include "py/objstr.h"
#include "mbedtls/bignum.h"
#include "mbedtls/sha256.h"
#include "mbedtls/sha512.h"

// Monocypher defines MIN and MAX the same way as py/misc.h
#undef MIN
#undef MAX
#include "monocypher.c"

// ---- SHA-512 -------------------------------------------------------------------------------

typedef struct _edsig_sha512_obj_t {
    mp_obj_base_t base;
    mbedtls_sha512_context ctx;
} edsig_sha512_obj_t;

static void sha512_of(u8 out[64], const u8 *a, size_t an, const u8 *b, size_t bn, const u8 *c, size_t cn) {
    mbedtls_sha512_context ctx;
    mbedtls_sha512_init(&ctx);
    mbedtls_sha512_starts(&ctx, 0);
    mbedtls_sha512_update(&ctx, a, an);
    if (bn) {
        mbedtls_sha512_update(&ctx, b, bn);
    }
    if (cn) {
        mbedtls_sha512_update(&ctx, c, cn);
    }
    mbedtls_sha512_finish(&ctx, out);
    mbedtls_sha512_free(&ctx);
}

static mp_obj_t edsig_sha512_update(mp_obj_t self_in, mp_obj_t data) {
    edsig_sha512_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_buffer_info_t buf;
    mp_get_buffer_raise(data, &buf, MP_BUFFER_READ);
    mbedtls_sha512_update(&self->ctx, buf.buf, buf.len);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(edsig_sha512_update_obj, edsig_sha512_update);

static mp_obj_t edsig_sha512_digest(mp_obj_t self_in) {
    edsig_sha512_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mbedtls_sha512_context copy;  // finished on a copy: the hasher takes more data after
    u8 out[64];
    mbedtls_sha512_init(&copy);
    mbedtls_sha512_clone(&copy, &self->ctx);
    mbedtls_sha512_finish(&copy, out);
    mbedtls_sha512_free(&copy);
    return mp_obj_new_bytes(out, sizeof(out));
}
static MP_DEFINE_CONST_FUN_OBJ_1(edsig_sha512_digest_obj, edsig_sha512_digest);

static mp_obj_t edsig_sha512_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 1, false);
    edsig_sha512_obj_t *self = mp_obj_malloc(edsig_sha512_obj_t, type);
    mbedtls_sha512_init(&self->ctx);
    mbedtls_sha512_starts(&self->ctx, 0);
    if (n_args == 1) {
        edsig_sha512_update(MP_OBJ_FROM_PTR(self), args[0]);
    }
    return MP_OBJ_FROM_PTR(self);
}

static const mp_rom_map_elem_t edsig_sha512_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_update), MP_ROM_PTR(&edsig_sha512_update_obj) },
    { MP_ROM_QSTR(MP_QSTR_digest), MP_ROM_PTR(&edsig_sha512_digest_obj) },
};
static MP_DEFINE_CONST_DICT(edsig_sha512_locals_dict, edsig_sha512_locals_dict_table);

static MP_DEFINE_CONST_OBJ_TYPE(
    edsig_sha512_type,
    MP_QSTR_sha512,
    MP_TYPE_FLAG_NONE,
    make_new, edsig_sha512_make_new,
    locals_dict, &edsig_sha512_locals_dict
    );

// ---- Ed25519 -------------------------------------------------------------------------------

static const u8 *bytes_of(mp_obj_t obj, size_t need, const char *what) {
    mp_buffer_info_t buf;
    mp_get_buffer_raise(obj, &buf, MP_BUFFER_READ);
    if (buf.len != need) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("Ed25519 %s must be %d bytes"), what, (int)need);
    }
    return buf.buf;
}

// RFC 8032 5.1.5: the secret scalar a (clamped) and the nonce prefix from SHA-512(seed)
static void expand(const u8 seed[32], u8 a[32], u8 prefix[32]) {
    u8 h[64];
    sha512_of(h, seed, 32, NULL, 0, NULL, 0);
    crypto_eddsa_trim_scalar(a, h);
    memcpy(prefix, h + 32, 32);
    crypto_wipe(h, sizeof(h));
}

static mp_obj_t edsig_public_key(mp_obj_t seed_in) {
    const u8 *seed = bytes_of(seed_in, 32, "seed");
    u8 a[32], prefix[32], pub[32];
    expand(seed, a, prefix);
    crypto_eddsa_scalarbase(pub, a);
    crypto_wipe(a, sizeof(a));
    crypto_wipe(prefix, sizeof(prefix));
    return mp_obj_new_bytes(pub, sizeof(pub));
}
static MP_DEFINE_CONST_FUN_OBJ_1(edsig_public_key_obj, edsig_public_key);

static mp_obj_t edsig_sign(size_t n_args, const mp_obj_t *args) {
    const u8 *seed = bytes_of(args[0], 32, "seed");
    mp_buffer_info_t msg;
    mp_get_buffer_raise(args[1], &msg, MP_BUFFER_READ);
    u8 a[32], prefix[32], pub[32], r[32], h[64], sig[64];
    expand(seed, a, prefix);
    crypto_eddsa_scalarbase(pub, a);  // derived, never taken from the caller (a wrong one leaks a)
    if (n_args > 2 && args[2] != mp_const_none) {
        mp_buffer_info_t given;
        mp_get_buffer_raise(args[2], &given, MP_BUFFER_READ);
        if (given.len != 32 || memcmp(given.buf, pub, 32) != 0) {
            crypto_wipe(a, sizeof(a));
            crypto_wipe(prefix, sizeof(prefix));
            mp_raise_ValueError(MP_ERROR_TEXT("ed25519: public key does not belong to the seed"));
        }
    }
    sha512_of(h, prefix, 32, msg.buf, msg.len, NULL, 0);
    crypto_eddsa_reduce(r, h);                              // r = SHA-512(prefix || M) mod L
    crypto_eddsa_scalarbase(sig, r);                        // R = [r]B
    sha512_of(h, sig, 32, pub, 32, msg.buf, msg.len);
    crypto_eddsa_reduce(h, h);                              // k = SHA-512(R || A || M) mod L
    crypto_eddsa_mul_add(sig + 32, h, a, r);                // S = k * a + r mod L
    crypto_wipe(a, sizeof(a));
    crypto_wipe(prefix, sizeof(prefix));
    crypto_wipe(r, sizeof(r));
    return mp_obj_new_bytes(sig, sizeof(sig));
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(edsig_sign_obj, 2, 3, edsig_sign);

// [S]B - [k]A == R, compared as encodings (OpenSSL's ED25519_verify).  The ladder is Monocypher's
// crypto_eddsa_check_equation without its cofactor multiplication and without decoding R.
static int check_cofactorless(const u8 sig[64], const u8 pub[32], const u8 k[32]) {
    ge minus_A;
    const u8 *s = sig + 32;
    u32 s32[8];
    load32_le_buf(s32, s, 8);
    if (ge_frombytes_neg_vartime(&minus_A, pub) || is_above_l(s32)) {
        return -1;
    }
    ge_cached lutA[P_W_SIZE];
    {
        ge minus_A2, tmp;
        ge_double(&minus_A2, &minus_A, &tmp);
        ge_cache(&lutA[0], &minus_A);
        FOR (i, 1, P_W_SIZE) {
            ge_add(&tmp, &minus_A2, &lutA[i - 1]);
            ge_cache(&lutA[i], &tmp);
        }
    }
    slide_ctx k_slide;
    slide_init(&k_slide, k);
    slide_ctx s_slide;
    slide_init(&s_slide, s);
    int i = MAX(k_slide.next_check, s_slide.next_check);
    ge *sum = &minus_A;
    ge_zero(sum);
    while (i >= 0) {
        ge tmp;
        ge_double(sum, sum, &tmp);
        int k_digit = slide_step(&k_slide, P_W_WIDTH, i, k);
        int s_digit = slide_step(&s_slide, B_W_WIDTH, i, s);
        if (k_digit > 0) {
            ge_add(sum, sum, &lutA[k_digit / 2]);
        }
        if (k_digit < 0) {
            ge_sub(sum, sum, &lutA[-k_digit / 2]);
        }
        fe t1, t2;
        if (s_digit > 0) {
            ge_madd(sum, sum, b_window + s_digit / 2, t1, t2);
        }
        if (s_digit < 0) {
            ge_msub(sum, sum, b_window + -s_digit / 2, t1, t2);
        }
        i--;
    }
    u8 check[32];
    ge_tobytes(check, sum);
    return crypto_verify32(check, sig);
}

static mp_obj_t edsig_check(mp_obj_t pub_in, mp_obj_t sig_in, mp_obj_t digest_in) {
    const u8 *digest = bytes_of(digest_in, 64, "digest");
    mp_buffer_info_t pub, sig;
    mp_get_buffer_raise(pub_in, &pub, MP_BUFFER_READ);
    mp_get_buffer_raise(sig_in, &sig, MP_BUFFER_READ);
    if (pub.len != 32 || sig.len != 64) {
        return mp_const_false;  // a wrong length is a signature that does not hold
    }
    u8 k[32];
    crypto_eddsa_reduce(k, digest);
    return mp_obj_new_bool(check_cofactorless(sig.buf, pub.buf, k) == 0);
}
static MP_DEFINE_CONST_FUN_OBJ_3(edsig_check_obj, edsig_check);

// ---- secp128r1 ECDSA (NXP originality signatures) -----------------------------------------
//
// mbedtls has no secp128r1, and its generic ECDSA over a group filled in by hand took as long as
// the Python it replaced (fresh comb tables and blinding at every call).  So the field is done here:
// four 32-bit limbs in Montgomery form (P = 2^128 - 2^97 - 1, so -1/P mod 2^32 is 1), Jacobian
// points with a = -3, and k1*G + k2*Q in one pass of 128 doublings (Shamir's trick).  The scalars
// mod n (one inversion, two products) use mbedtls's bignums.  Verify only: public data, so nothing
// here needs to be constant-time.

typedef uint32_t fe128[4];  // little-endian limbs

static const fe128 p128 = { 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFD };
static const fe128 p128_one = { 1, 0, 0, 0 };

static int fe_ge_p(const fe128 a) {
    for (int i = 3; i >= 0; i--) {
        if (a[i] != p128[i]) {
            return a[i] > p128[i];
        }
    }
    return 1;
}

static void fe_sub_p(fe128 a) {
    uint64_t borrow = 0;
    for (int i = 0; i < 4; i++) {
        uint64_t d = (uint64_t)a[i] - p128[i] - borrow;
        a[i] = (uint32_t)d;
        borrow = (d >> 63) & 1;
    }
}

static void f_add(fe128 r, const fe128 a, const fe128 b) {
    uint64_t c = 0;
    for (int i = 0; i < 4; i++) {
        c += (uint64_t)a[i] + b[i];
        r[i] = (uint32_t)c;
        c >>= 32;
    }
    if (c || fe_ge_p(r)) {
        fe_sub_p(r);
    }
}

static void f_sub(fe128 r, const fe128 a, const fe128 b) {
    uint64_t borrow = 0;
    for (int i = 0; i < 4; i++) {
        uint64_t d = (uint64_t)a[i] - b[i] - borrow;
        r[i] = (uint32_t)d;
        borrow = (d >> 63) & 1;
    }
    if (borrow) {  // went below zero: add p back
        uint64_t c = 0;
        for (int i = 0; i < 4; i++) {
            c += (uint64_t)r[i] + p128[i];
            r[i] = (uint32_t)c;
            c >>= 32;
        }
    }
}

// a * b / 2^128 mod p (CIOS Montgomery multiplication)
static void f_mul(fe128 r, const fe128 a, const fe128 b) {
    uint32_t t[6] = { 0 };
    for (int i = 0; i < 4; i++) {
        uint64_t c = 0;
        for (int j = 0; j < 4; j++) {
            c += (uint64_t)a[j] * b[i] + t[j];
            t[j] = (uint32_t)c;
            c >>= 32;
        }
        c += t[4];
        t[4] = (uint32_t)c;
        t[5] = (uint32_t)(c >> 32);
        uint32_t m = t[0];  // t[0] * (-1/p mod 2^32), which is 1
        c = ((uint64_t)m * p128[0] + t[0]) >> 32;
        for (int j = 1; j < 4; j++) {
            c += (uint64_t)m * p128[j] + t[j];
            t[j - 1] = (uint32_t)c;
            c >>= 32;
        }
        c += t[4];
        t[3] = (uint32_t)c;
        t[4] = t[5] + (uint32_t)(c >> 32);
    }
    memcpy(r, t, 16);
    if (t[4] || fe_ge_p(r)) {
        fe_sub_p(r);
    }
}

static int fe_is_zero(const fe128 a) {
    return (a[0] | a[1] | a[2] | a[3]) == 0;
}

static void fe_from_be(fe128 r, const u8 *b) {
    for (int i = 0; i < 4; i++) {
        const u8 *w = b + 12 - 4 * i;
        r[i] = (uint32_t)w[0] << 24 | (uint32_t)w[1] << 16 | (uint32_t)w[2] << 8 | w[3];
    }
}

static void fe_to_be(u8 *b, const fe128 a) {
    for (int i = 0; i < 4; i++) {
        u8 *w = b + 12 - 4 * i;
        w[0] = a[i] >> 24;
        w[1] = a[i] >> 16;
        w[2] = a[i] >> 8;
        w[3] = a[i];
    }
}

// 2^256 mod p, the factor into Montgomery form: 1 doubled 256 times
static void fe_r2(fe128 r2) {
    memcpy(r2, p128_one, 16);
    for (int i = 0; i < 256; i++) {
        f_add(r2, r2, r2);
    }
}

// a^(p-2): the inverse, in Montgomery form (p - 2 = FFFFFFFD FFFFFFFF FFFFFFFF FFFFFFFD)
static void f_inv(fe128 r, const fe128 a, const fe128 mont_one) {
    static const fe128 e = { 0xFFFFFFFD, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFD };
    fe128 acc;
    memcpy(acc, mont_one, 16);
    for (int i = 127; i >= 0; i--) {
        f_mul(acc, acc, acc);
        if ((e[i / 32] >> (i % 32)) & 1) {
            f_mul(acc, acc, a);
        }
    }
    memcpy(r, acc, 16);
}

typedef struct {
    fe128 x, y, z;  // Jacobian, Montgomery form; z = 0 is the point at infinity
} jpoint;

static void j_double(jpoint *r, const jpoint *p) {
    if (fe_is_zero(p->z) || fe_is_zero(p->y)) {
        memset(r, 0, sizeof(*r));
        return;
    }
    fe128 delta, gamma, beta, alpha, t1, t2;
    f_mul(delta, p->z, p->z);
    f_mul(gamma, p->y, p->y);
    f_mul(beta, p->x, gamma);
    f_sub(t1, p->x, delta);
    f_add(t2, p->x, delta);
    f_mul(alpha, t1, t2);
    f_add(t1, alpha, alpha);
    f_add(alpha, t1, alpha);  // 3 (x - delta)(x + delta): a = -3
    f_add(t1, p->y, p->z);
    f_mul(t1, t1, t1);
    f_sub(t1, t1, gamma);
    f_sub(r->z, t1, delta);
    f_add(beta, beta, beta);
    f_add(beta, beta, beta);  // 4 beta
    f_mul(t1, alpha, alpha);
    f_add(t2, beta, beta);
    f_sub(r->x, t1, t2);
    f_sub(t1, beta, r->x);
    f_mul(t1, alpha, t1);
    f_mul(gamma, gamma, gamma);
    f_add(gamma, gamma, gamma);
    f_add(gamma, gamma, gamma);
    f_add(gamma, gamma, gamma);  // 8 gamma^2
    f_sub(r->y, t1, gamma);
}

static void j_add(jpoint *r, const jpoint *p, const jpoint *q) {
    if (fe_is_zero(p->z)) {
        *r = *q;
        return;
    }
    if (fe_is_zero(q->z)) {
        *r = *p;
        return;
    }
    fe128 z1z1, z2z2, u1, u2, s1, s2, h, rr, hh, hhh, v, t;
    f_mul(z1z1, p->z, p->z);
    f_mul(z2z2, q->z, q->z);
    f_mul(u1, p->x, z2z2);
    f_mul(u2, q->x, z1z1);
    f_mul(s1, p->y, q->z);
    f_mul(s1, s1, z2z2);
    f_mul(s2, q->y, p->z);
    f_mul(s2, s2, z1z1);
    f_sub(h, u2, u1);
    f_sub(rr, s2, s1);
    if (fe_is_zero(h)) {
        if (fe_is_zero(rr)) {
            j_double(r, p);
        } else {
            memset(r, 0, sizeof(*r));
        }
        return;
    }
    f_mul(hh, h, h);
    f_mul(hhh, h, hh);
    f_mul(v, u1, hh);
    jpoint out;
    f_mul(t, rr, rr);
    f_sub(t, t, hhh);
    f_sub(t, t, v);
    f_sub(out.x, t, v);
    f_sub(t, v, out.x);
    f_mul(t, rr, t);
    f_mul(s1, s1, hhh);
    f_sub(out.y, t, s1);
    f_mul(t, p->z, q->z);
    f_mul(out.z, t, h);
    *r = out;
}

// SEC 2 v1.0 section 2.3.1
static const u8 secp128r1_b[16] = {
    0xE8, 0x75, 0x79, 0xC1, 0x10, 0x79, 0xF4, 0x3D, 0xD8, 0x24, 0x99, 0x3C, 0x2C, 0xEE, 0x5E, 0xD3 };
static const u8 secp128r1_n[16] = {
    0xFF, 0xFF, 0xFF, 0xFE, 0x00, 0x00, 0x00, 0x00, 0x75, 0xA3, 0x0D, 0x1B, 0x90, 0x38, 0xA1, 0x15 };
static const u8 secp128r1_g[32] = {
    0x16, 0x1F, 0xF7, 0x52, 0x8B, 0x89, 0x9B, 0x2D, 0x0C, 0x28, 0x60, 0x7C, 0xA5, 0x2C, 0x5B, 0x86,
    0xCF, 0x5A, 0xC8, 0x39, 0x5B, 0xAF, 0xEB, 0x13, 0xC0, 0x2D, 0xA2, 0x92, 0xDD, 0xED, 0x7A, 0x83 };

// an affine point (x || y, 32 bytes big-endian) into Montgomery Jacobian form, if it is on the curve
static int j_from_affine(jpoint *r, const u8 *xy, const fe128 r2) {
    fe128 x, y, b, t, rhs;
    fe_from_be(x, xy);
    fe_from_be(y, xy + 16);
    if (fe_ge_p(x) || fe_ge_p(y)) {
        return 0;
    }
    f_mul(r->x, x, r2);
    f_mul(r->y, y, r2);
    f_mul(r->z, p128_one, r2);
    fe_from_be(b, secp128r1_b);
    f_mul(b, b, r2);
    f_mul(t, r->x, r->x);
    f_mul(rhs, t, r->x);  // x^3
    f_add(t, r->x, r->x);
    f_add(t, t, r->x);
    f_sub(rhs, rhs, t);   // - 3x
    f_add(rhs, rhs, b);   // + b
    f_mul(t, r->y, r->y);
    return memcmp(t, rhs, 16) == 0;
}

// u1 = e / s and u2 = r / s mod n, as 16 bytes big-endian each; 0 if r or s is not in [1, n - 1]
static int scalars(u8 u1[16], u8 u2[16], const u8 *msg, size_t msg_len, const u8 *sig) {
    mbedtls_mpi n, r, s, e, w, t;
    mbedtls_mpi *all[] = { &n, &r, &s, &e, &w, &t };
    for (int i = 0; i < 6; i++) {
        mbedtls_mpi_init(all[i]);
    }
    int err = mbedtls_mpi_read_binary(&n, secp128r1_n, 16);
    err = err ? err : mbedtls_mpi_read_binary(&r, sig, 16);
    err = err ? err : mbedtls_mpi_read_binary(&s, sig + 16, 16);
    err = err ? err : mbedtls_mpi_read_binary(&e, msg, msg_len);  // the UID itself: no hash (AN11350)
    int ok = !err && mbedtls_mpi_cmp_int(&r, 0) > 0 && mbedtls_mpi_cmp_mpi(&r, &n) < 0
        && mbedtls_mpi_cmp_int(&s, 0) > 0 && mbedtls_mpi_cmp_mpi(&s, &n) < 0;
    if (ok) {
        err = mbedtls_mpi_inv_mod(&w, &s, &n);
        err = err ? err : mbedtls_mpi_mul_mpi(&t, &e, &w);
        err = err ? err : mbedtls_mpi_mod_mpi(&t, &t, &n);
        err = err ? err : mbedtls_mpi_write_binary(&t, u1, 16);
        err = err ? err : mbedtls_mpi_mul_mpi(&t, &r, &w);
        err = err ? err : mbedtls_mpi_mod_mpi(&t, &t, &n);
        err = err ? err : mbedtls_mpi_write_binary(&t, u2, 16);
        ok = !err;
    }
    for (int i = 0; i < 6; i++) {
        mbedtls_mpi_free(all[i]);
    }
    return ok;
}

static mp_obj_t edsig_secp128r1_verify(mp_obj_t msg_in, mp_obj_t sig_in, mp_obj_t key_in) {
    mp_buffer_info_t msg, sig, key;
    mp_get_buffer_raise(msg_in, &msg, MP_BUFFER_READ);
    mp_get_buffer_raise(sig_in, &sig, MP_BUFFER_READ);
    mp_get_buffer_raise(key_in, &key, MP_BUFFER_READ);
    if (sig.len != 32 || key.len != 33 || ((const u8 *)key.buf)[0] != 0x04 || msg.len > 16) {
        return mp_const_false;  // a card's bytes are anyone's: malformed is simply not genuine
    }
    fe128 r2;
    fe_r2(r2);
    jpoint g, q, both, acc;
    if (!j_from_affine(&g, secp128r1_g, r2) || !j_from_affine(&q, (const u8 *)key.buf + 1, r2)) {
        return mp_const_false;  // a key that is not a point of the curve
    }
    u8 u1[16], u2[16];
    if (!scalars(u1, u2, msg.buf, msg.len, sig.buf)) {
        return mp_const_false;
    }
    j_add(&both, &g, &q);
    memset(&acc, 0, sizeof(acc));
    for (int i = 127; i >= 0; i--) {
        j_double(&acc, &acc);
        int b1 = (u1[15 - i / 8] >> (i % 8)) & 1;
        int b2 = (u2[15 - i / 8] >> (i % 8)) & 1;
        if (b1 && b2) {
            j_add(&acc, &acc, &both);
        } else if (b1) {
            j_add(&acc, &acc, &g);
        } else if (b2) {
            j_add(&acc, &acc, &q);
        }
    }
    if (fe_is_zero(acc.z)) {
        return mp_const_false;
    }
    fe128 mont_one, zi, x;
    f_mul(mont_one, p128_one, r2);
    f_inv(zi, acc.z, mont_one);
    f_mul(zi, zi, zi);
    f_mul(x, acc.x, zi);
    f_mul(x, x, p128_one);  // out of Montgomery form
    u8 xb[16];
    fe_to_be(xb, x);
    // x mod n: p < 2n, so at most one subtraction; then x == r
    mbedtls_mpi mx, n, r;
    mbedtls_mpi_init(&mx);
    mbedtls_mpi_init(&n);
    mbedtls_mpi_init(&r);
    int err = mbedtls_mpi_read_binary(&mx, xb, 16);
    err = err ? err : mbedtls_mpi_read_binary(&n, secp128r1_n, 16);
    err = err ? err : mbedtls_mpi_read_binary(&r, sig.buf, 16);
    if (!err && mbedtls_mpi_cmp_mpi(&mx, &n) >= 0) {
        err = mbedtls_mpi_sub_mpi(&mx, &mx, &n);
    }
    int same = !err && mbedtls_mpi_cmp_mpi(&mx, &r) == 0;
    mbedtls_mpi_free(&mx);
    mbedtls_mpi_free(&n);
    mbedtls_mpi_free(&r);
    return mp_obj_new_bool(same);
}
static MP_DEFINE_CONST_FUN_OBJ_3(edsig_secp128r1_verify_obj, edsig_secp128r1_verify);

// ---- PBKDF2-HMAC-SHA256 --------------------------------------------------------------------

// HMAC's inner and outer states after their pad blocks: each iteration then costs two blocks
typedef struct {
    mbedtls_sha256_context inner, outer;
} hmac_keyed_t;

static void hmac_key(hmac_keyed_t *k, const u8 *key, size_t len) {
    u8 block[64], hashed[32];
    if (len > 64) {
        mbedtls_sha256(key, len, hashed, 0);
        key = hashed;
        len = 32;
    }
    for (int pad = 0; pad < 2; pad++) {
        mbedtls_sha256_context *ctx = pad ? &k->outer : &k->inner;
        memset(block, pad ? 0x5c : 0x36, sizeof(block));
        for (size_t i = 0; i < len; i++) {
            block[i] ^= key[i];
        }
        mbedtls_sha256_init(ctx);
        mbedtls_sha256_starts(ctx, 0);
        mbedtls_sha256_update(ctx, block, sizeof(block));
    }
    crypto_wipe(block, sizeof(block));
    crypto_wipe(hashed, sizeof(hashed));
}

static void hmac_run(const hmac_keyed_t *k, const u8 *a, size_t an, const u8 *b, size_t bn, u8 out[32]) {
    mbedtls_sha256_context ctx;
    mbedtls_sha256_init(&ctx);
    mbedtls_sha256_clone(&ctx, &k->inner);
    mbedtls_sha256_update(&ctx, a, an);
    if (bn) {
        mbedtls_sha256_update(&ctx, b, bn);
    }
    mbedtls_sha256_finish(&ctx, out);
    mbedtls_sha256_clone(&ctx, &k->outer);
    mbedtls_sha256_update(&ctx, out, 32);
    mbedtls_sha256_finish(&ctx, out);
    mbedtls_sha256_free(&ctx);
}

static mp_obj_t edsig_pbkdf2_sha256(size_t n_args, const mp_obj_t *args) {
    mp_buffer_info_t password, salt;
    mp_get_buffer_raise(args[0], &password, MP_BUFFER_READ);
    mp_get_buffer_raise(args[1], &salt, MP_BUFFER_READ);
    mp_int_t iterations = mp_obj_get_int(args[2]);
    mp_int_t dklen = n_args > 3 ? mp_obj_get_int(args[3]) : 32;
    if (iterations < 1 || dklen < 1 || dklen > 1024) {
        mp_raise_ValueError(MP_ERROR_TEXT("iterations and dklen must be positive (dklen <= 1024)"));
    }
    hmac_keyed_t k;
    hmac_key(&k, password.buf, password.len);
    vstr_t out;
    vstr_init_len(&out, dklen);
    u8 u[32], acc[32], index[4];
    for (mp_int_t done = 0, block = 1; done < dklen; block++) {
        index[0] = block >> 24;
        index[1] = block >> 16;
        index[2] = block >> 8;
        index[3] = block;
        hmac_run(&k, salt.buf, salt.len, index, 4, u);
        memcpy(acc, u, 32);
        for (mp_int_t i = 1; i < iterations; i++) {
            hmac_run(&k, u, 32, NULL, 0, u);
            for (int j = 0; j < 32; j++) {
                acc[j] ^= u[j];
            }
        }
        mp_int_t take = dklen - done < 32 ? dklen - done : 32;
        memcpy(out.buf + done, acc, take);
        done += take;
    }
    mbedtls_sha256_free(&k.inner);
    mbedtls_sha256_free(&k.outer);
    crypto_wipe(u, sizeof(u));
    crypto_wipe(acc, sizeof(acc));
    return mp_obj_new_bytes_from_vstr(&out);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(edsig_pbkdf2_sha256_obj, 3, 4, edsig_pbkdf2_sha256);

static const mp_rom_map_elem_t edsig_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_edsig) },
    { MP_ROM_QSTR(MP_QSTR_sha512), MP_ROM_PTR(&edsig_sha512_type) },
    { MP_ROM_QSTR(MP_QSTR_public_key), MP_ROM_PTR(&edsig_public_key_obj) },
    { MP_ROM_QSTR(MP_QSTR_sign), MP_ROM_PTR(&edsig_sign_obj) },
    { MP_ROM_QSTR(MP_QSTR_check), MP_ROM_PTR(&edsig_check_obj) },
    { MP_ROM_QSTR(MP_QSTR_pbkdf2_sha256), MP_ROM_PTR(&edsig_pbkdf2_sha256_obj) },
    { MP_ROM_QSTR(MP_QSTR_secp128r1_verify), MP_ROM_PTR(&edsig_secp128r1_verify_obj) },
};
static MP_DEFINE_CONST_DICT(edsig_module_globals, edsig_module_globals_table);

const mp_obj_module_t edsig_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&edsig_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR_edsig, edsig_module);
