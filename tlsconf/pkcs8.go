package tlsconf

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"
)

// Reference: RFC 8018 (PKCS #5 v2.1) §6.2 PBES2 and §5.2 PBKDF2; RFC 5958
// EncryptedPrivateKeyInfo. Go's x509 package reads only unencrypted PKCS #8.

var (
	oidPBES2  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}

	oidHMACWithSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACWithSHA224 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 8}
	oidHMACWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACWithSHA512 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}

	oidAES128CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDESEDE3CBC = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
)

// maxPBKDF2Iterations bounds the work a key file can ask for.
const maxPBKDF2Iterations = 10_000_000

type encryptedPrivateKeyInfo struct {
	Algo pkix.AlgorithmIdentifier
	Data []byte
}

type pbes2Params struct {
	KDF    pkix.AlgorithmIdentifier
	Scheme pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt       []byte
	Iterations int
	KeyLength  int                      `asn1:"optional"`
	PRF        pkix.AlgorithmIdentifier `asn1:"optional"`
}

// errPKCS8 is wrapped by every decryptPKCS8 failure.
var errPKCS8 = errors.New("encrypted PKCS #8 key")

// decryptPKCS8 returns the PKCS #8 PrivateKeyInfo inside an EncryptedPrivateKeyInfo
// protected with PBES2 (PBKDF2 with HMAC-SHA1/224/256/384/512, AES-CBC or
// DES-EDE3-CBC): what `openssl pkcs8 -topk8` and Java write today. PBES1 schemes
// are refused.
func decryptPKCS8(der []byte, password string) ([]byte, error) {
	var info encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("%w: malformed EncryptedPrivateKeyInfo", errPKCS8)
	}
	if !info.Algo.Algorithm.Equal(oidPBES2) {
		return nil, fmt.Errorf("%w: scheme %v is not PBES2", errPKCS8, info.Algo.Algorithm)
	}
	var params pbes2Params
	if rest, err := asn1.Unmarshal(info.Algo.Parameters.FullBytes, &params); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("%w: malformed PBES2 parameters", errPKCS8)
	}
	if !params.KDF.Algorithm.Equal(oidPBKDF2) {
		return nil, fmt.Errorf("%w: key derivation %v is not PBKDF2", errPKCS8, params.KDF.Algorithm)
	}
	var kdf pbkdf2Params
	if rest, err := asn1.Unmarshal(params.KDF.Parameters.FullBytes, &kdf); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("%w: malformed PBKDF2 parameters", errPKCS8)
	}
	if kdf.Iterations < 1 || kdf.Iterations > maxPBKDF2Iterations {
		return nil, fmt.Errorf("%w: PBKDF2 iteration count %d", errPKCS8, kdf.Iterations)
	}
	var prf func() hash.Hash
	switch alg := kdf.PRF.Algorithm; {
	case len(alg) == 0, alg.Equal(oidHMACWithSHA1):
		prf = sha1.New
	case alg.Equal(oidHMACWithSHA224):
		prf = sha256.New224
	case alg.Equal(oidHMACWithSHA256):
		prf = sha256.New
	case alg.Equal(oidHMACWithSHA384):
		prf = sha512.New384
	case alg.Equal(oidHMACWithSHA512):
		prf = sha512.New
	default:
		return nil, fmt.Errorf("%w: PBKDF2 PRF %v", errPKCS8, alg)
	}

	var keyLen int
	var newBlock func([]byte) (cipher.Block, error)
	switch alg := params.Scheme.Algorithm; {
	case alg.Equal(oidAES128CBC):
		keyLen, newBlock = 16, aes.NewCipher
	case alg.Equal(oidAES192CBC):
		keyLen, newBlock = 24, aes.NewCipher
	case alg.Equal(oidAES256CBC):
		keyLen, newBlock = 32, aes.NewCipher
	case alg.Equal(oidDESEDE3CBC):
		keyLen, newBlock = 24, des.NewTripleDESCipher
	default:
		return nil, fmt.Errorf("%w: cipher %v", errPKCS8, alg)
	}
	if kdf.KeyLength != 0 && kdf.KeyLength != keyLen {
		return nil, fmt.Errorf("%w: key length %d for a %d-byte cipher", errPKCS8, kdf.KeyLength, keyLen)
	}
	var iv []byte
	if rest, err := asn1.Unmarshal(params.Scheme.Parameters.FullBytes, &iv); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("%w: malformed IV", errPKCS8)
	}
	key, err := pbkdf2.Key(prf, password, kdf.Salt, kdf.Iterations, keyLen)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errPKCS8, err)
	}
	block, err := newBlock(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errPKCS8, err)
	}
	bs := block.BlockSize()
	if len(iv) != bs || len(info.Data) == 0 || len(info.Data)%bs != 0 {
		return nil, fmt.Errorf("%w: bad IV or ciphertext length", errPKCS8)
	}
	plain := make([]byte, len(info.Data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, info.Data)
	// PKCS #7 padding; a wrong password almost always shows up here.
	pad := int(plain[len(plain)-1])
	if pad == 0 || pad > bs {
		return nil, fmt.Errorf("%w: wrong password or damaged key", errPKCS8)
	}
	for _, p := range plain[len(plain)-pad:] {
		if int(p) != pad {
			return nil, fmt.Errorf("%w: wrong password or damaged key", errPKCS8)
		}
	}
	return plain[:len(plain)-pad], nil
}
