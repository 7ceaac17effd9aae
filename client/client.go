// Package client talks to a jitaccess server's JSON API (/api/v1) with a
// bearer token: the command line's request, approve, deny and listing
// commands use it. It holds no rules: every answer is the server's.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jitaccess/jitaccess/web/api"
	"github.com/jitaccess/jitaccess/web/httpkit"
)

// Request is a request as the API returns it.
type Request = api.RequestJSON

// Client calls one server as one token's holder.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
	// ua is sent as the User-Agent; the server records calls that carry
	// httpkit.CLIUserAgent as coming from the command line (audit source cli).
	ua string
}

// SetUserAgent names the client to the server (the command line: its
// version after httpkit.CLIUserAgent).
func (c *Client) SetUserAgent(ua string) { c.ua = ua }

// New returns a client for the server at baseURL (scheme and host, with
// an optional path prefix) that authenticates with token. A nil hc takes
// a client with a 30 s timeout.
func New(baseURL, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server URL %q is not an http:// or https:// URL", baseURL)
	}
	if token == "" {
		return nil, errors.New("no token: set JITACCESS_TOKEN or pass --token (create one with `jitaccess token create --user EMAIL`)")
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: u, token: token, http: hc, ua: httpkit.CLIUserAgent + "dev"}, nil
}

// Error is an error answer of the API: its HTTP status and the
// {"error": {"code", "message"}} body.
type Error struct {
	Status  int
	Code    string
	Message string
	// RequestID is the request the error is about (error.request_id):
	// the live grant of already_live, which may be extended instead.
	RequestID string
}

func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("server answered %d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("%s (%d %s)", e.Message, e.Status, e.Code)
}

// Me is who the token belongs to.
type Me struct {
	Name    string   `json:"name"`
	Email   string   `json:"email"`
	Service string   `json:"service"`
	Scopes  []string `json:"scopes"`
	Admin   bool     `json:"admin"`
	Known   bool     `json:"in_policy"`
}

// NewRequest is the body of a new request.
type NewRequest struct {
	Resource string `json:"resource"`
	Duration string `json:"duration"`
	Reason   string `json:"reason"`
	Ticket   string `json:"ticket,omitempty"`
	Purpose  string `json:"purpose,omitempty"`
	// StartAt (RFC 3339) schedules the access to start later.
	StartAt string `json:"start_at,omitempty"`
	// Emergency asks for break-glass access (live at once, reviewed
	// after), for members of the resource's break_glass groups.
	Emergency bool `json:"emergency,omitempty"`
}

// Page is one page of a listing.
type Page struct {
	Requests   []Request `json:"requests"`
	NextCursor string    `json:"next_cursor"`
}

// Me returns the token's holder.
func (c *Client) Me(ctx context.Context) (*Me, error) {
	var out Me
	return &out, c.do(ctx, http.MethodGet, "/api/v1/me", nil, nil, &out)
}

// Create files a request. idempotencyKey, when set, makes a retry of the
// same call safe (the server answers the first result again).
func (c *Client) Create(ctx context.Context, in NewRequest, idempotencyKey string) (*Request, error) {
	var out Request
	return &out, c.do(ctx, http.MethodPost, "/api/v1/requests", in, http.Header{"Idempotency-Key": nonEmpty(idempotencyKey)}, &out)
}

// Get returns one request with its history.
func (c *Client) Get(ctx context.Context, id string) (*Request, error) {
	var out Request
	return &out, c.do(ctx, http.MethodGet, "/api/v1/requests/"+url.PathEscape(id), nil, nil, &out)
}

// Decide approves, denies, cancels or revokes (verb) request id with a
// comment or reason.
func (c *Client) Decide(ctx context.Context, id, verb, comment string) (*Request, error) {
	var out Request
	body := map[string]string{}
	if comment != "" {
		body["comment"] = comment
	}
	return &out, c.do(ctx, http.MethodPost, "/api/v1/requests/"+url.PathEscape(id)+"/"+verb, body, nil, &out)
}

// Extend files an extension of the live grant id by duration (a Go
// duration) with reason: POST /api/v1/requests/ID/extend.
func (c *Client) Extend(ctx context.Context, id, duration, reason string) (*Request, error) {
	var out Request
	body := map[string]string{"duration": duration, "reason": reason}
	return &out, c.do(ctx, http.MethodPost, "/api/v1/requests/"+url.PathEscape(id)+"/extend", body, nil, &out)
}

// List reads one page of path (/api/v1/requests, /api/v1/decisions or
// /api/v1/grants) with query.
func (c *Client) List(ctx context.Context, path string, query url.Values) (*Page, error) {
	var out Page
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	return &out, c.do(ctx, http.MethodGet, path, nil, nil, &out)
}

// ListAll reads pages of path until there are no more or max requests
// have been read (0: no bound).
func (c *Client) ListAll(ctx context.Context, path string, query url.Values, max int) ([]Request, error) {
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	var all []Request
	for {
		page, err := c.List(ctx, path, q)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Requests...)
		if max > 0 && len(all) >= max {
			return all[:max], nil
		}
		if page.NextCursor == "" {
			return all, nil
		}
		q.Set("cursor", page.NextCursor)
	}
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// maxAnswer bounds what is read of one answer.
const maxAnswer = 16 << 20

func (c *Client) do(ctx context.Context, method, path string, body any, header http.Header, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := *c.base
	ref, err := url.Parse(path)
	if err != nil {
		return err
	}
	u.Path += ref.Path
	u.RawQuery = ref.RawQuery
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return err
	}
	for k, v := range header {
		for _, s := range v {
			req.Header.Add(k, s)
		}
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", c.ua)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("reading the answer to %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		e := &Error{Status: resp.StatusCode}
		var env struct {
			Error struct {
				Code      string `json:"code"`
				Message   string `json:"message"`
				RequestID string `json:"request_id"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &env) == nil {
			e.Code, e.Message, e.RequestID = env.Error.Code, env.Error.Message, env.Error.RequestID
		}
		return e
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("the answer to %s %s is not the JSON expected: %w", method, path, err)
	}
	return nil
}
