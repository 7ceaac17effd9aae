package slackapp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitaccess/jitaccess/workflow"
)

// Directory maps Slack users to jitaccess identities and back, by email,
// through users.info, users.lookupByEmail and conversations.open. Answers
// are cached for TTL (misses for NegativeTTL), so that a busy approver
// does not cost a Slack call per click, and a changed profile or a
// deactivated account is noticed within TTL.
//
// The mapping trusts the workspace's email addresses: Slack confirms an
// address before an account can use it, and jitaccess is meant for a
// workspace the organisation controls. Deactivated accounts, bots and
// (unless AllowGuests) guest accounts are never mapped, nor are
// accounts of other organisations met through Slack Connect.
type Directory struct {
	Client      *slack.Client
	TTL         time.Duration // default 10m
	NegativeTTL time.Duration // default 1m
	AllowGuests bool
	Now         func() time.Time

	byID    ttlCache[User]
	byEmail ttlCache[string] // email → DM channel ID
}

// User is a Slack user mapped to a jitaccess person.
type User struct {
	SlackID string
	Email   string
	Name    string
}

type cached[T any] struct {
	val     T
	err     error
	expires time.Time
}

// ttlCache holds answers (and lasting refusals) until they expire.
type ttlCache[T any] struct {
	mu sync.Mutex
	m  map[string]cached[T]
}

// maxCached bounds each cache; past it the cache starts over.
const maxCached = 20000

// remember returns c's answer for key, or fetches, caches and returns
// it. Errors are cached only when lasting says so (a user that does not
// exist, not Slack being down), for the shorter negative TTL.
func remember[T any](d *Directory, c *ttlCache[T], key string, lasting func(error) bool, fetch func() (T, error)) (T, error) {
	now := d.now()
	c.mu.Lock()
	if e, ok := c.m[key]; ok && now.Before(e.expires) {
		c.mu.Unlock()
		return e.val, e.err
	}
	c.mu.Unlock()
	v, err := fetch()
	if err != nil && !lasting(err) {
		return v, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) > maxCached {
		c.m = map[string]cached[T]{}
	}
	c.m[key] = cached[T]{val: v, err: err, expires: now.Add(d.ttl(err))}
	c.mu.Unlock()
	return v, err
}

// UnmappedError says why a Slack user cannot act in jitaccess. Its message
// is shown to them.
type UnmappedError struct{ Reason string }

func (e *UnmappedError) Error() string { return e.Reason }

func (d *Directory) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Directory) ttl(err error) time.Duration {
	if err != nil {
		if d.NegativeTTL > 0 {
			return d.NegativeTTL
		}
		return time.Minute
	}
	if d.TTL > 0 {
		return d.TTL
	}
	return 10 * time.Minute
}

// Lookup maps a Slack user ID to a person. An *UnmappedError says why the
// user cannot act; other errors are Slack failures.
func (d *Directory) Lookup(ctx context.Context, slackID string) (User, error) {
	return remember(d, &d.byID, slackID, isUnmapped, func() (User, error) { return d.lookup(ctx, slackID) })
}

func (d *Directory) lookup(ctx context.Context, slackID string) (User, error) {
	info, err := d.Client.GetUserInfoContext(ctx, slackID)
	if code := slackCode(err); code == "user_not_found" || code == "user_not_visible" {
		return User{}, &UnmappedError{"jitaccess cannot see your Slack account, so it cannot tell who you are. Ask an admin to check the app's installation."}
	}
	if err != nil {
		return User{}, err
	}
	email := workflow.NormalizeEmail(info.Profile.Email)
	switch {
	case info.Deleted:
		return User{}, &UnmappedError{"Your Slack account is deactivated."}
	case info.IsBot:
		return User{}, &UnmappedError{"Bots cannot request or approve access."}
	case info.IsStranger:
		return User{}, &UnmappedError{"Accounts from other organisations cannot use jitaccess."}
	case (info.IsRestricted || info.IsUltraRestricted) && !d.AllowGuests:
		return User{}, &UnmappedError{"Guest accounts cannot use jitaccess from Slack. Use the web UI or the API with your own account."}
	case email == "":
		return User{}, &UnmappedError{"Your Slack profile shows no email address to jitaccess, so it cannot tell who you are. " +
			"Ask an admin to check that the app has the users:read.email scope."}
	}
	name := info.Profile.DisplayName
	if name == "" {
		name = info.RealName
	}
	return User{SlackID: info.ID, Email: email, Name: name}, nil
}

// DirectChannel returns the ID of the app's direct-message channel with
// the Slack user whose email is email.
func (d *Directory) DirectChannel(ctx context.Context, email string) (string, error) {
	email = workflow.NormalizeEmail(email)
	return remember(d, &d.byEmail, email, permanentLookup, func() (string, error) { return d.directChannel(ctx, email) })
}

func (d *Directory) directChannel(ctx context.Context, email string) (string, error) {
	u, err := d.Client.GetUserByEmailContext(ctx, email)
	if err != nil {
		return "", err
	}
	if u.Deleted {
		return "", fmt.Errorf("the Slack account of %s is deactivated: %w", email, slack.SlackErrorResponse{Err: "account_inactive"})
	}
	return d.OpenDirect(ctx, u.ID)
}

// OpenDirect returns the ID of the app's direct-message channel with a
// Slack user.
func (d *Directory) OpenDirect(ctx context.Context, slackID string) (string, error) {
	ch, _, _, err := d.Client.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{slackID}})
	if err != nil {
		return "", err
	}
	return ch.ID, nil
}

// permanentLookup reports whether a lookup failed for a reason worth
// caching (no such user) rather than a passing Slack failure.
func permanentLookup(err error) bool {
	switch slackCode(err) {
	case "users_not_found", "user_not_found", "account_inactive", "user_disabled", "cannot_dm_bot":
		return true
	}
	return false
}

func slackCode(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}
