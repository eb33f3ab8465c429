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
//   edsig.sign(seed, msg)            64 bytes: R || S, deterministic (RFC 8032 5.1.6)
//   edsig.check(pub, sig, digest)    True if sig holds, digest = SHA-512(R || pub || msg) (64 bytes,
//                                    hashed by the caller so a long message can be streamed)
//
// The check is cofactorless, [S]B - [k]A encoded and compared with R's 32 bytes, as OpenSSL's
// ED25519_verify does: a non-canonical R and S >= L are refused.  Monocypher's own
// crypto_eddsa_check_equation multiplies by the cofactor, so it would accept signatures OpenSSL
// refuses; the check below reuses its group law and window tables, hence the whole library is
// compiled into this translation unit.

#include <string.h>

#include "py/runtime.h"
#include "py/objstr.h"
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

static mp_obj_t edsig_sign(mp_obj_t seed_in, mp_obj_t msg_in) {
    const u8 *seed = bytes_of(seed_in, 32, "seed");
    mp_buffer_info_t msg;
    mp_get_buffer_raise(msg_in, &msg, MP_BUFFER_READ);
    u8 a[32], prefix[32], pub[32], r[32], h[64], sig[64];
    expand(seed, a, prefix);
    crypto_eddsa_scalarbase(pub, a);  // derived, never taken from the caller (a wrong one leaks a)
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
static MP_DEFINE_CONST_FUN_OBJ_2(edsig_sign_obj, edsig_sign);

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

static const mp_rom_map_elem_t edsig_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_edsig) },
    { MP_ROM_QSTR(MP_QSTR_sha512), MP_ROM_PTR(&edsig_sha512_type) },
    { MP_ROM_QSTR(MP_QSTR_public_key), MP_ROM_PTR(&edsig_public_key_obj) },
    { MP_ROM_QSTR(MP_QSTR_sign), MP_ROM_PTR(&edsig_sign_obj) },
    { MP_ROM_QSTR(MP_QSTR_check), MP_ROM_PTR(&edsig_check_obj) },
};
static MP_DEFINE_CONST_DICT(edsig_module_globals, edsig_module_globals_table);

const mp_obj_module_t edsig_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&edsig_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR_edsig, edsig_module);
