package bucket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"gocloud.dev/gcerrors"
	"google.golang.org/api/googleapi"
)

// Kinds of errors, for errors.Is on an *Error.
var (
	ErrNoCredentials = errors.New("no usable credentials")
	ErrAccessDenied  = errors.New("access denied")
	ErrNotFound      = errors.New("bucket not found")
	ErrTruncated     = errors.New("truncated object")
)

// Error says what failed, where, and what to do about it.
type Error struct {
	Kind  error  // one of the Err* kinds
	Where string // the bucket, prefix or object URL
	What  string
	Hint  string // what to do
	Err   error  // the provider's error
}

func (e *Error) Error() string {
	s := e.Where + ": " + e.What
	if e.Hint != "" {
		s += ": " + e.Hint
	}
	if e.Err != nil {
		d := e.Err.Error()
		if len(d) > 300 {
			d = d[:300] + "..."
		}
		s += " (" + d + ")"
	}
	return s
}

func (e *Error) Unwrap() []error { return []error{e.Kind, e.Err} }

// classify turns a provider error into one that says what to do. op is
// "open", "list" (key is the prefix) or "get" (key is the object).
func (s *Source) classify(err error, op, key string) error {
	if err == nil {
		return nil
	}
	var done *Error
	if errors.As(err, &done) || errors.Is(err, context.Canceled) {
		return err
	}
	where := s.base + key
	kind, rejected := kindOf(err)
	if kind == nil {
		switch op {
		case "list":
			return fmt.Errorf("%s: listing objects: %w", where, err)
		case "get":
			return fmt.Errorf("%s: reading the object: %w", where, err)
		}
		return fmt.Errorf("%s: %w", where, err)
	}
	e := &Error{Kind: kind, Where: where, Err: err}
	switch kind {
	case ErrNoCredentials:
		e.What = "no credentials found"
		if rejected {
			e.What = "the credentials were rejected"
		}
		e.Hint = map[string]string{
			"s3":     "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (with AWS_SESSION_TOKEN for a session), or run with an IAM role (IRSA, an instance profile); refresh an expired session with 'aws sso login'",
			"gs":     "run 'gcloud auth application-default login', or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file",
			"azblob": "set AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, or AZURE_STORAGE_CONNECTION_STRING, or sign in with 'az login' (or run with a managed identity)",
		}[s.scheme]
	case ErrAccessDenied:
		verb := "listing objects"
		if op == "get" {
			verb = "reading the object"
		}
		e.What = "access denied " + verb
		switch s.scheme {
		case "s3":
			if op == "get" {
				e.Hint = fmt.Sprintf("the credentials need s3:GetObject on arn:aws:s3:::%s/%s (and s3:ListBucket on arn:aws:s3:::%s)", s.bucket, key, s.bucket)
			} else {
				e.Hint = fmt.Sprintf("the credentials need s3:ListBucket on arn:aws:s3:::%s (and s3:GetObject on arn:aws:s3:::%s/%s*)", s.bucket, s.bucket, s.prefix)
			}
		case "gs":
			e.Hint = fmt.Sprintf("the account needs storage.objects.list and storage.objects.get on gs://%s (the role roles/storage.objectViewer)", s.bucket)
		case "azblob":
			e.Hint = fmt.Sprintf("the identity needs the role 'Storage Blob Data Reader' on the storage account or on the container %s (a SAS token needs the read and list permissions)", s.bucket)
		case "file":
			e.Hint = "check the permissions of the files and directories"
		}
	case ErrNotFound:
		if op == "get" {
			e.What = "the object no longer exists (deleted since it was listed)"
			e.Hint = "run again"
			break
		}
		switch s.scheme {
		case "s3":
			e.What = fmt.Sprintf("bucket %s not found", s.bucket)
			e.Hint = "check its name, and its region (AWS_REGION, or ?region= on the URL)"
		case "gs":
			e.What = fmt.Sprintf("bucket %s not found", s.bucket)
			e.Hint = "check its name and the project it is in"
		case "azblob":
			e.What = fmt.Sprintf("container %s not found", s.bucket)
			e.Hint = "check its name and the storage account (AZURE_STORAGE_ACCOUNT, or ?storage_account= on the URL)"
		default:
			e.What = "not found"
		}
	}
	return e
}

// kindOf sorts a provider error; rejected is set for credentials that
// exist but were refused.
func kindOf(err error) (kind error, rejected bool) {
	var ce *credentialsError
	if errors.As(err, &ce) {
		return ErrNoCredentials, false
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "AccessDenied", "AllAccessDisabled", "AccessDeniedException", "Forbidden":
			return ErrAccessDenied, false
		case "NoSuchBucket":
			return ErrNotFound, false
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired",
			"InvalidClientTokenId", "UnrecognizedClientException", "ExpiredTokenException":
			return ErrNoCredentials, true
		}
	}
	var az *azcore.ResponseError
	if errors.As(err, &az) {
		switch az.ErrorCode {
		case "AuthorizationPermissionMismatch", "AuthorizationFailure", "AuthorizationResourceTypeMismatch",
			"AuthorizationServiceMismatch", "AuthorizationProtocolMismatch", "AuthorizationSourceIPMismatch", "InsufficientAccountPermissions":
			return ErrAccessDenied, false
		case "ContainerNotFound", "ResourceNotFound":
			return ErrNotFound, false
		case "AuthenticationFailed", "NoAuthenticationInformation", "InvalidAuthenticationInfo":
			return ErrNoCredentials, true
		}
	}
	msg := err.Error()
	for _, s := range []string{"failed to retrieve credentials", "failed to refresh cached credentials", "no EC2 IMDS role found",
		"DefaultAzureCredential", "ManagedIdentityCredential", "could not find default credentials"} {
		if strings.Contains(msg, s) {
			return ErrNoCredentials, false
		}
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		switch ge.Code {
		case http.StatusUnauthorized:
			return ErrNoCredentials, true
		case http.StatusForbidden:
			return ErrAccessDenied, false
		case http.StatusNotFound:
			return ErrNotFound, false
		}
	}
	if errors.Is(err, storage.ErrBucketNotExist) {
		return ErrNotFound, false
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case http.StatusForbidden:
			return ErrAccessDenied, false
		case http.StatusNotFound:
			return ErrNotFound, false
		}
	}
	if errors.Is(err, os.ErrPermission) {
		return ErrAccessDenied, false
	}
	switch gcerrors.Code(err) {
	case gcerrors.PermissionDenied:
		return ErrAccessDenied, false
	case gcerrors.NotFound:
		return ErrNotFound, false
	}
	return nil, false
}

// transient reports an error worth retrying: throttling, a server error,
// a connection lost or timed out.
func transient(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var p *permanent
	if errors.As(err, &p) {
		return false
	}
	if errors.Is(err, errShortDownload) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	status := 0
	var re *smithyhttp.ResponseError
	var az *azcore.ResponseError
	var ge *googleapi.Error
	switch {
	case errors.As(err, &re):
		status = re.HTTPStatusCode()
	case errors.As(err, &az):
		status = az.StatusCode
	case errors.As(err, &ge):
		status = ge.Code
	}
	switch status {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusRequestTimeout:
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError", "ServiceUnavailable":
			return true
		}
	}
	if gcerrors.Code(err) == gcerrors.ResourceExhausted {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"connection reset", "unexpected EOF", "broken pipe", "server closed idle connection", "GOAWAY"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
