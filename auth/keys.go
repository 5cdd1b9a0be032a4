package auth

import (
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
)

// maxKeyFileSize bounds what we read from a key file; real ones are a few KiB.
const maxKeyFileSize = 1 << 20

func readKeyFile(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("auth: read key file %s: %w", path, err)
	}
	if info.Size() > maxKeyFileSize {
		return nil, fmt.Errorf("auth: read key file %s: larger than %d bytes", path, maxKeyFileSize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: read key file %s: %w", path, err)
	}
	return data, nil
}

// loadPEMFile returns the public keys in a PEM file: PUBLIC KEY (PKIX),
// RSA PUBLIC KEY (PKCS #1) or CERTIFICATE blocks with RSA or Ed25519 keys. It
// returns an error for any other block (a private key in particular), for an
// unsupported or weak key, or if the file holds no key at all.
func loadPEMFile(path string) ([]verificationKey, error) {
	data, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	var keys []verificationKey
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		var pub any
		switch block.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			cert, err = x509.ParseCertificate(block.Bytes)
			if err == nil {
				pub = cert.PublicKey
			}
		default:
			return nil, fmt.Errorf("auth: key file %s: PEM block %q is not a public key", path, block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("auth: key file %s: parse %s: %w", path, block.Type, err)
		}
		k, err := pinKey(pub)
		if err != nil {
			return nil, fmt.Errorf("auth: key file %s: %w", path, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("auth: key file %s: no PEM public key found", path)
	}
	return keys, nil
}

// pinKey pins a public key to the one algorithm it may verify.
func pinKey(pub any) (verificationKey, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return verificationKey{}, fmt.Errorf("RSA key of %d bits, need at least %d", k.N.BitLen(), minRSABits)
		}
		return verificationKey{alg: algRS256, key: k}, nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return verificationKey{}, errors.New("Ed25519 key of the wrong size")
		}
		return verificationKey{alg: algEdDSA, key: k}, nil
	}
	return verificationKey{}, fmt.Errorf("unsupported key type %T (want RSA or Ed25519)", pub)
}

// jsonWebKey is the part of an RFC 7517 key we use.
type jsonWebKey struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	// RSA
	N string `json:"n"`
	E string `json:"e"`
	// OKP
	Crv string `json:"crv"`
	X   string `json:"x"`
}

// loadJWKSFile returns the usable keys of a JWKS file: those with a kid by
// kid, the others apart. Keys of other types (EC, oct), for encryption, or
// declared for another algorithm are skipped. It returns an error if the file
// cannot be read or parsed, an RSA or Ed25519 key is malformed or weak, a kid
// repeats, or no usable key is left.
func loadJWKSFile(path string) (map[string]verificationKey, []verificationKey, error) {
	data, err := readKeyFile(path)
	if err != nil {
		return nil, nil, err
	}
	var set struct {
		Keys []jsonWebKey `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, nil, fmt.Errorf("auth: JWKS file %s: %w", path, err)
	}
	byKID := map[string]verificationKey{}
	var anonymous []verificationKey
	for i, jwk := range set.Keys {
		if jwk.Use != "" && jwk.Use != "sig" {
			continue
		}
		var (
			k   verificationKey
			err error
		)
		switch jwk.Kty {
		case "RSA":
			if jwk.Alg != "" && jwk.Alg != algRS256 {
				continue
			}
			k, err = rsaFromJWK(jwk)
		case "OKP":
			if jwk.Alg != "" && jwk.Alg != algEdDSA {
				continue
			}
			if jwk.Crv != "Ed25519" {
				continue
			}
			k, err = ed25519FromJWK(jwk)
		default:
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("auth: JWKS file %s: key %d (kid %q): %w", path, i, jwk.Kid, err)
		}
		if jwk.Kid == "" {
			anonymous = append(anonymous, k)
			continue
		}
		if _, dup := byKID[jwk.Kid]; dup {
			return nil, nil, fmt.Errorf("auth: JWKS file %s: kid %q appears twice", path, jwk.Kid)
		}
		byKID[jwk.Kid] = k
	}
	if len(byKID) == 0 && len(anonymous) == 0 {
		return nil, nil, fmt.Errorf("auth: JWKS file %s: no usable RSA or Ed25519 signing key", path)
	}
	return byKID, anonymous, nil
}

// decodeB64URL decodes unpadded base64url, tolerating padding some issuers add.
func decodeB64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

func rsaFromJWK(jwk jsonWebKey) (verificationKey, error) {
	n, err := decodeB64URL(jwk.N)
	if err != nil || len(n) == 0 {
		return verificationKey{}, errors.New("bad RSA modulus n")
	}
	e, err := decodeB64URL(jwk.E)
	if err != nil || len(e) == 0 || len(e) > 4 {
		return verificationKey{}, errors.New("bad RSA exponent e")
	}
	exp := new(big.Int).SetBytes(e)
	if exp.Int64() < 3 || exp.Bit(0) == 0 {
		return verificationKey{}, errors.New("bad RSA exponent e")
	}
	return pinKey(&rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp.Int64())})
}

func ed25519FromJWK(jwk jsonWebKey) (verificationKey, error) {
	x, err := decodeB64URL(jwk.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		return verificationKey{}, errors.New("bad Ed25519 public key x")
	}
	return pinKey(ed25519.PublicKey(x))
}
