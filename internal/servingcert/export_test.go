package servingcert

import (
	"crypto/x509"
	"time"
)

// IssueForTest makes a CA and a serving certificate for hosts, valid from
// now, for tests of the CertDir mode.
func IssueForTest(now time.Time, hosts ...string) (caPEM, certPEM, keyPEM []byte, err error) {
	caPEM, caKeyPEM, err := newCA(now)
	if err != nil {
		return nil, nil, nil, err
	}
	ca, err := decodeCertificate(CACertKey, caPEM)
	if err != nil {
		return nil, nil, nil, err
	}
	caKey, err := decodeKey(CAKeyKey, caKeyPEM)
	if err != nil {
		return nil, nil, nil, err
	}
	certPEM, keyPEM, err = issueServing(ca, caKey, newHostSet(hosts), now)
	return caPEM, certPEM, keyPEM, err
}

// RenewAtForTest is when Ensure re-issues c for age.
func RenewAtForTest(c *x509.Certificate) time.Time { return renewAt(c) }

// LeaksKeyForTest tells whether msg shows a line of one of the PEM keys.
var LeaksKeyForTest = leaksKey
