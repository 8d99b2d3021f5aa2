/* aes.h -- the fixed interface of the aes128_ctr task (not editable).
 *
 * aes128_ctr() encrypts (or, identically, decrypts) len bytes from in to out
 * with AES-128 (FIPS-197) in counter mode (NIST SP 800-38A): the keystream is
 * AES_key(ctr_0) || AES_key(ctr_1) || ..., where ctr_0 = iv and each next
 * counter block is the previous one plus 1 as a 128-bit big-endian integer
 * (wrapping from all 0xFF bytes to all zero bytes), and out = in XOR keystream.
 * A final partial block uses the first bytes of its keystream block.
 * in and out never overlap. len may be 0.
 */
#ifndef AES_H
#define AES_H
#include <stddef.h>
#include <stdint.h>

void aes128_ctr(const uint8_t key[16], const uint8_t iv[16], const uint8_t *in, uint8_t *out, size_t len);

#endif
