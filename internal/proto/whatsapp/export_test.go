package whatsapp

import "crypto/ecdh"

// NewClientWithKey exposes newClient to the external tests.
func NewClientWithKey(header []byte, eph *ecdh.PrivateKey) (*Client, error) {
	return newClient(header, eph)
}
