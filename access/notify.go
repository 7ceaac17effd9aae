package access

import (
	"context"
	"encoding/json"

	"github.com/jitaccess/jitaccess/workflow"
)

// ChangesChannel is the PostgreSQL NOTIFY channel on which replicas tell
// each other of changes that make cached decisions stale.
const ChangesChannel = "jitaccess_changes"

// Kinds of Notice.
const (
	NoticeGrant        = "grant"        // a grant of User to Resource started or ended
	NoticeProvisioning = "provisioning" // its provisioning status changed
	NoticePerson       = "person"       // the directory changed User: every resource
	NoticeAll          = "all"          // too many to name: drop everything
	// NoticeToken: API token Token was revoked (no Token: drop every
	// cached token). It is for the token cache (identity.TokenCache),
	// not for decisions.
	NoticeToken = "token"
)

// maxNotices bounds the notices of one transaction; beyond it one NoticeAll
// is sent instead.
const maxNotices = 100

// Notice is the payload of a ChangesChannel notification (JSON).
type Notice struct {
	Kind     string `json:"kind"`
	User     string `json:"user,omitempty"`
	Resource string `json:"resource,omitempty"`
	Token    string `json:"token,omitempty"` // a token id, never a secret
}

// ParseNotice decodes a notification payload.
func ParseNotice(payload string) (Notice, error) {
	var n Notice
	err := json.Unmarshal([]byte(payload), &n)
	return n, err
}

func (n Notice) encode() string {
	b, _ := json.Marshal(n) // strings only: cannot fail
	return string(b)
}

// Notices returns the notices to send for a change's transaction: one per
// person and resource whose access started or ended (expiries need none:
// no allowed entry outlives expires_at), or a single NoticeAll when there
// are more than maxNotices.
func Notices(changes []workflow.Change) []Notice {
	keys := heldKeys(changes, nil)
	if len(keys) > maxNotices {
		return []Notice{{Kind: NoticeAll}}
	}
	seen := make(map[cacheKey]bool, len(keys))
	var out []Notice
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, Notice{Kind: NoticeGrant, User: k.user, Resource: k.resource})
		}
	}
	return out
}

// NotifyHook is a workflow.Hook that tells every replica, through
// tx.Notify (delivered on commit), of the grants that start or end in the
// change. Register it with svc.OnChange on PostgreSQL.
func NotifyHook(ctx context.Context, tx workflow.Tx, changes []workflow.Change) error {
	for _, n := range Notices(changes) {
		if err := tx.Notify(ctx, ChangesChannel, n.encode()); err != nil {
			return err
		}
	}
	return nil
}

// NotifyProvisioning tells every replica, inside tx, that the
// provisioning status of user's grant of resource changed.
func NotifyProvisioning(ctx context.Context, tx workflow.Tx, user, resource string) error {
	return tx.Notify(ctx, ChangesChannel, Notice{Kind: NoticeProvisioning, User: user, Resource: resource}.encode())
}

// PersonNotices returns the notices of a directory change to people.
func PersonNotices(emails []string) []string {
	if len(emails) > maxNotices {
		return []string{Notice{Kind: NoticeAll}.encode()}
	}
	out := make([]string, len(emails))
	for i, e := range emails {
		out[i] = Notice{Kind: NoticePerson, User: workflow.NormalizeEmail(e)}.encode()
	}
	return out
}

// TokenNotice is the notice of the revocation of the API token id.
func TokenNotice(id string) string {
	return Notice{Kind: NoticeToken, Token: id}.encode()
}

// TokenNotices returns the notices of the revocation of the tokens ids:
// one each, or a single one that drops every cached token when there are
// more than maxNotices.
func TokenNotices(ids []string) []string {
	if len(ids) > maxNotices {
		return []string{Notice{Kind: NoticeToken}.encode()}
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = TokenNotice(id)
	}
	return out
}

// Apply drops the cached decisions a notice makes stale; an unknown kind
// drops everything.
func (c *Checker) Apply(n Notice) {
	switch {
	case c.cache == nil, n.Kind == NoticeToken: // token notices are the token cache's
	case (n.Kind == NoticeGrant || n.Kind == NoticeProvisioning) && n.User != "" && n.Resource != "":
		c.cache.drop(cacheKey{n.User, n.Resource})
	case n.Kind == NoticePerson && n.User != "":
		c.DropUsers([]string{n.User})
	default:
		c.Reset()
	}
}

// Invalidate drops the cached decision of user and resource (for example
// when its grant's provisioning status changed).
func (c *Checker) Invalidate(user, resource string) {
	if c.cache != nil {
		c.cache.drop(cacheKey{workflow.NormalizeEmail(user), resource})
	}
}

// DropUsers drops every cached decision about the given people (after a
// directory change). Register it with svc.OnDirectoryChange.
func (c *Checker) DropUsers(emails []string) {
	if c.cache == nil || len(emails) == 0 {
		return
	}
	users := make(map[string]bool, len(emails))
	for _, e := range emails {
		users[workflow.NormalizeEmail(e)] = true
	}
	c.cache.dropUsers(users)
}

// Reset drops every cached decision (when notifications may have been
// lost, for example while the listener was disconnected).
func (c *Checker) Reset() {
	if c.cache != nil {
		c.cache.reset()
	}
}
