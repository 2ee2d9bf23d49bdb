package v1alpha1_test

const validWebhookSecret = `signingSecretRef: {name: crm-webhook, key: secret}
`

func init() {
	admissionCases["a webhook has exactly one URL, absolute http(s)"] = []admissionCase{
		{kind: "LicenseWebhook", spec: validWebhookSecret, wantError: "set exactly one of url and urlSecretRef"},
		{kind: "LicenseWebhook", spec: with(validWebhookSecret, `
url: https://crm.example.com/hooks
urlSecretRef: {name: crm-url, key: url}
`), wantError: "set exactly one of url and urlSecretRef"},
		{kind: "LicenseWebhook", spec: with(validWebhookSecret, `url: ftp://crm.example.com/hooks`), wantError: "must be an absolute https:// URL"},
		{kind: "LicenseWebhook", spec: with(validWebhookSecret, `url: crm.example.com/hooks`), wantError: "must be an absolute https:// URL"},
		{kind: "LicenseWebhook", spec: with(validWebhookSecret, `url: https://crm.example.com/hooks?token=x`)},
		{kind: "LicenseWebhook", spec: with(validWebhookSecret, `url: http://127.0.0.1:8080/hooks`)}, // refused by the manager unless allowed
		{kind: "LicenseWebhook", spec: with(validWebhookSecret, `urlSecretRef: {name: crm-url, key: url}`)},
	}
	admissionCases["a webhook names known event types, a signing secret, bounded retries"] = []admissionCase{
		{kind: "LicenseWebhook", spec: `url: https://crm.example.com/hooks`, wantError: "signingSecretRef: Required value"},
		{kind: "LicenseWebhook", spec: with(validWebhookSecret, `
url: https://crm.example.com/hooks
events: [io.kubelicense.license.exploded]
`), wantError: "Unsupported value"},
		{kind: "LicenseWebhook", spec: with(validWebhookSecret, `
url: https://crm.example.com/hooks
events: [io.kubelicense.license.issued, io.kubelicense.license.issued]
`), wantError: "Duplicate value"},
		{kind: "LicenseWebhook", spec: with(validWebhookSecret, `
url: https://crm.example.com/hooks
maxAttempts: 51
`), wantError: "less than or equal to 50"},
		{kind: "LicenseWebhook", spec: with(validWebhookSecret, `
url: https://crm.example.com/hooks
timeoutSeconds: 0
`), wantError: "greater than or equal to 1"},
		{kind: "LicenseWebhook", spec: with(validWebhookSecret, `
url: https://crm.example.com/hooks
events: [io.kubelicense.license.issued, io.kubelicense.key.missing]
selector: {productRef: {name: acme-db}, licenseeSelector: {matchLabels: {tier: gold}}}
maxAttempts: 50
timeoutSeconds: 60
`)},
	}
}
