package v1alpha1

// Condition types and reasons of the three kinds. They are API: kstatus, the
// Argo CD health script, kubectl-license and people's alerts read them. The
// controllers only report them; they never decide anything by comparing them.

// Condition types.
const (
	// ConditionReady (every kind): the object is fully reconciled.
	ConditionReady = "Ready"
	// ConditionKeyAvailable (Product): a usable signing key exists.
	ConditionKeyAvailable = "KeyAvailable"
	// ConditionLicensed (Licensee): at least one license entitles the licensee now.
	ConditionLicensed = "Licensed"
	// ConditionStalled (every kind, kstatus' abnormal-true condition): a person
	// must act before the object can become Ready; kstatus reads it as Failed.
	ConditionStalled = "Stalled"
	// ConditionReconciling (Licensee, kstatus' abnormal-true condition): the
	// object waits for something the operator is doing; kstatus reads InProgress.
	ConditionReconciling = "Reconciling"
	// ConditionDistributed (Licensee with spec.distribution): every target
	// namespace holds current copies of the license Secret and the JWKS.
	ConditionDistributed = "Distributed"
)

// Reasons shared by the kinds.
const (
	// ReasonReconciled: Ready=True of a Product or LicenseTemplate.
	ReasonReconciled = "Reconciled"
	// ReasonReconcileError: Ready=False while a reconcile fails, for instance an
	// API request that is forbidden or times out; the message is the error. The
	// controller retries with backoff.
	ReasonReconcileError = "ReconcileError"
	// ReasonProductNotFound: spec.productRef names no Product (LicenseTemplate, Licensee).
	ReasonProductNotFound = "ProductNotFound"
	// ReasonSecretConflict: a Secret the operator must write is taken by one it
	// does not manage (Product key Secret, Licensee license Secret, a copy).
	ReasonSecretConflict = "SecretConflict"
	// ReasonConfigMapConflict: the same for a ConfigMap (Product JWKS, a copy).
	ReasonConfigMapConflict = "ConfigMapConflict"
)

// Reasons of Product conditions (Ready, KeyAvailable, Stalled).
const (
	ReasonKeyReady             = "KeyReady"
	ReasonSigningKeyMissing    = "SigningKeyMissing"
	ReasonSigningKeyCorrupt    = "SigningKeyCorrupt"
	ReasonUnsupportedKeyType   = "UnsupportedKeyType"
	ReasonKeyAlgorithmMismatch = "KeyAlgorithmMismatch"
	ReasonSecretNotFound       = "SecretNotFound"
)

// Reasons of LicenseTemplate conditions (Ready, Stalled).
const (
	ReasonUnknownFeature = "UnknownFeature"
	ReasonUnknownQuota   = "UnknownQuota"
)

// Reasons of Licensee Ready, Stalled and Reconciling.
const (
	ReasonIssued                = "Issued"
	ReasonRevoked               = "Revoked"
	ReasonProductKeyUnavailable = "ProductKeyUnavailable"
	ReasonInvalidLicense        = "InvalidLicense"
)

// Reasons of the Licensee Distributed condition and of status.distribution[]
// (with SecretConflict and ConfigMapConflict).
const (
	// ReasonDistributed: Distributed=True, every target holds current copies.
	ReasonDistributed = "Distributed"
	// ReasonNamespaceNotFound: a named namespace does not exist (or is being
	// deleted); it gets its copies when it appears.
	ReasonNamespaceNotFound = "NamespaceNotFound"
	// ReasonNamespaceNotOptedIn: a named namespace lacks the label
	// licensing.kubelicense.io/accept-from=<licensing namespace>.
	ReasonNamespaceNotOptedIn = "NamespaceNotOptedIn"
	// ReasonSourceNotReady: the license Secret or the Product's JWKS ConfigMap
	// is not there to copy yet.
	ReasonSourceNotReady = "SourceNotReady"
	// ReasonLicensingNamespace: the Licensee's own namespace is never a target;
	// it holds the originals.
	ReasonLicensingNamespace = "LicensingNamespace"
	// ReasonInvalidNamespaceSelector: spec.distribution.namespaceSelector does not parse.
	ReasonInvalidNamespaceSelector = "InvalidNamespaceSelector"
)

// Reasons of the Licensee Licensed condition: the best state of any license, in
// this order.
const (
	ReasonValid         = "Valid"
	ReasonInGracePeriod = "InGracePeriod"
	ReasonNotYetValid   = "NotYetValid"
	ReasonSuspended     = "Suspended"
	ReasonExpired       = "Expired"
	ReasonNoLicenses    = "NoLicenses"
)

// Reasons of the LicenseWebhook Ready condition (with Reconciled,
// SecretNotFound and ReconcileError).
const (
	// ReasonInsecureURL: the URL is plain http and the manager does not allow it.
	ReasonInsecureURL = "InsecureURL"
	// ReasonInvalidURL: the URL in spec.urlSecretRef is not an absolute http(s) URL.
	ReasonInvalidURL = "InvalidURL"
	// ReasonInvalidSigningSecret: the signing secret is not "whsec_" + base64 of 24 to 64 bytes.
	ReasonInvalidSigningSecret = "InvalidSigningSecret"
	// ReasonInvalidCABundle: spec.caBundle holds no PEM certificate.
	ReasonInvalidCABundle = "InvalidCABundle"
)
