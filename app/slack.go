package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitaccess/jitaccess/notifier"
	"github.com/jitaccess/jitaccess/provision"
	"github.com/jitaccess/jitaccess/queue"
	"github.com/jitaccess/jitaccess/slackapp"
	"github.com/jitaccess/jitaccess/workflow"
)

// SlackConfig configures notifications and the Slack app. Slack is on when
// a bot token or a signing secret is given, and then both are required;
// without them notifications go to the log.
type SlackConfig struct {
	BotToken      string
	SigningSecret string
	Command       string
	Channel       string // default approval channel
	TierChannels  string // tier=channel,...
	APIURL        string
	UserCacheTTL  time.Duration
	AllowGuests   bool
	ExpiryWarning time.Duration

	tiers map[workflow.Tier]string
}

// DefaultSlackAPIURL is Slack's Web API.
const DefaultSlackAPIURL = "https://slack.com/api/"

// secret registers a flag whose value comes from env unless the flag is
// given. Unlike flagSet.str, the value is not the flag's default, so that
// -h never prints it.
func (f *flagSet) secret(p *string, name, env, usage string) {
	*p = os.Getenv(env)
	f.Func(name, usage+envNote(env), func(s string) error { *p = s; return nil })
}

// slack registers the Slack and notification flags.
func (f *flagSet) slack(c *SlackConfig) {
	f.secret(&c.BotToken, "slack-bot-token", "SLACK_BOT_TOKEN", "Slack bot token (xoxb-...); prefer the environment variable, which ps does not show")
	f.secret(&c.SigningSecret, "slack-signing-secret", "SLACK_SIGNING_SECRET", "Slack signing secret; prefer the environment variable")
	f.str(&c.Command, "slack-command", "SLACK_COMMAND", "/access", "the slash command's name, as set up in the Slack app")
	f.str(&c.Channel, "slack-channel", "SLACK_CHANNEL", "", "approval channel (ID or #name) for resources the policy gives none")
	f.str(&c.TierChannels, "slack-tier-channels", "SLACK_TIER_CHANNELS", "", "approval channels per tier where the policy gives none: high=#sec-approvals,critical=C0123ABCD")
	f.str(&c.APIURL, "slack-api-url", "SLACK_API_URL", DefaultSlackAPIURL, "Slack Web API base URL")
	f.duration(&c.UserCacheTTL, "slack-user-cache-ttl", "SLACK_USER_CACHE_TTL", 10*time.Minute, "how long a Slack user's email is remembered")
	f.boolean(&c.AllowGuests, "slack-allow-guests", "SLACK_ALLOW_GUESTS", "let Slack guest accounts request and approve (refused by default)")
	f.duration(&c.ExpiryWarning, "expiry-warning", "JITACCESS_EXPIRY_WARNING", notifier.DefaultExpiryWarning, "how long before access expires the requester is warned (0 for never)")
}

// Enabled reports whether Slack is configured.
func (c *SlackConfig) Enabled() bool { return c.BotToken != "" || c.SigningSecret != "" }

func (c *SlackConfig) validate() error {
	if c.Command == "" {
		c.Command = "/access"
	}
	if c.APIURL == "" {
		c.APIURL = DefaultSlackAPIURL
	}
	if c.ExpiryWarning < 0 {
		return fmt.Errorf("--expiry-warning %s: must not be negative", c.ExpiryWarning)
	}
	if !c.Enabled() {
		return nil
	}
	switch {
	case c.SigningSecret == "":
		return errors.New("Slack is enabled (SLACK_BOT_TOKEN is set) but SLACK_SIGNING_SECRET is empty: without it no Slack request can be verified. " +
			"Set it from the app's Basic Information page, or unset SLACK_BOT_TOKEN to run without Slack")
	case c.BotToken == "":
		return errors.New("SLACK_SIGNING_SECRET is set but SLACK_BOT_TOKEN is empty: set the bot token (xoxb-...) from the app's OAuth & Permissions page")
	case !strings.HasPrefix(c.BotToken, "xoxb-"):
		return errors.New("SLACK_BOT_TOKEN must be a bot token, starting xoxb-")
	case !strings.HasPrefix(c.Command, "/") || strings.ContainsAny(c.Command, " \t"):
		return fmt.Errorf("--slack-command %q: a slash command looks like /access", c.Command)
	case c.Channel != "" && !workflow.ValidSlackChannel(c.Channel):
		return fmt.Errorf("--slack-channel %q: use a channel ID like C0123ABCD or a name like #access-requests", c.Channel)
	}
	u, err := url.Parse(c.APIURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("--slack-api-url %q is not an http(s) URL", c.APIURL)
	}
	if !strings.HasSuffix(c.APIURL, "/") {
		c.APIURL += "/"
	}
	c.tiers = map[workflow.Tier]string{}
	for _, pair := range strings.Split(c.TierChannels, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		tier, ch, ok := strings.Cut(strings.TrimSpace(pair), "=")
		switch {
		case !ok:
			return fmt.Errorf("--slack-tier-channels: %q is not TIER=CHANNEL", pair)
		case !workflow.Tier(tier).Valid():
			return fmt.Errorf("--slack-tier-channels: unknown tier %q; use low, medium, high or critical", tier)
		case !workflow.ValidSlackChannel(ch):
			return fmt.Errorf("--slack-tier-channels: %q is not a channel ID like C0123ABCD or a name like #access-requests", ch)
		}
		c.tiers[workflow.Tier(tier)] = ch
	}
	return nil
}

// responseURLPrefixes are where Slack answers may be posted: Slack's
// hooks, and a non-default API host (a proxy, or a test's fake Slack).
func (c *SlackConfig) responseURLPrefixes() []string {
	out := []string{"https://hooks.slack.com/"}
	if c.APIURL != DefaultSlackAPIURL {
		if u, err := url.Parse(c.APIURL); err == nil {
			out = append(out, u.Scheme+"://"+u.Host+"/")
		}
	}
	return out
}

// wireNotifications registers the notification outbox and its worker, and
// with Slack configured the Slack endpoints; without Slack, notifications
// go to the log.
func (a *App) wireNotifications() error {
	cfg := &a.Config.Slack
	svc := a.Service
	svc.OnChange(notifier.Outbox{ExpiryWarning: cfg.ExpiryWarning, Policy: svc.Policy}.Hook)
	d := &notifier.Dispatcher{Channel: notifier.ChannelResolver(svc.Policy, cfg.tiers, cfg.Channel), Requests: a.DB, Logger: a.Logger,
		Provisioning: a.provisioningStatus, Policy: svc.Policy, Expand: a.DB.ExpandJob, LoadRequests: a.DB.GetRequests}
	// Failures are bounded by time (Dispatcher.GiveUpAfter), not by
	// attempts: a long Slack outage must not use them up.
	a.runners = append(a.runners, &queue.Runner{Store: a.DB, Queue: notifier.Queue, Handler: d.Deliver, Logger: a.Logger,
		Concurrency: 8, MaxAttempts: 1 << 20, MaxBackoff: 5 * time.Minute})
	if !cfg.Enabled() {
		d.Sender = notifier.LogSender{Logger: a.Logger}
		a.Logger.Info("Slack is not configured; notifications go to the log")
		return nil
	}
	if err := checkApprovalChannels(svc.Policy(), d.Channel); err != nil {
		return err
	}
	client := slack.New(cfg.BotToken, slack.OptionAPIURL(cfg.APIURL), slack.OptionHTTPClient(&http.Client{Timeout: 15 * time.Second}))
	dir := &slackapp.Directory{Client: client, TTL: cfg.UserCacheTTL, AllowGuests: cfg.AllowGuests}
	d.Sender = &notifier.SlackSender{Client: client, Messages: a.DB, Users: dir, Pacer: notifier.NewPacer(), Logger: a.Logger}
	h, err := slackapp.New(slackapp.Config{Service: svc, Store: a.DB, Client: client, Directory: dir, SigningSecret: cfg.SigningSecret,
		Command: cfg.Command, ResponseURLPrefixes: cfg.responseURLPrefixes(), Logger: a.Logger})
	if err != nil {
		return err
	}
	h.Register(a.Web.Echo(), a.Web.AuthenticateAPI)
	a.Web.Describe(slackapp.Operations()...)
	a.slack = h
	go a.checkSlackToken(client)
	return nil
}

// checkApprovalChannels refuses a policy in which a resource that needs
// approval has no channel to ask in.
func checkApprovalChannels(pol *workflow.Policy, channel func(string, workflow.Tier) string) error {
	var errs []string
	for _, r := range pol.Resources {
		if !r.AutoApprove && channel(r.ID, r.Tier) == "" {
			errs = append(errs, fmt.Sprintf("%s:%d: resource %q has no Slack approval channel: set slack_channel on it, "+
				"slack_channels in the policy, or --slack-channel", pol.Source, r.Line, r.ID))
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

// checkSlackToken says in the log whether Slack accepts the bot token. It
// does not hold up the start: Slack being down must not stop jitaccess.
func (a *App) checkSlackToken(client *slack.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := client.AuthTestContext(ctx)
	if err != nil {
		a.Logger.Error("Slack did not accept the bot token; Slack messages will fail until it is fixed", "err", err)
		return
	}
	a.Logger.Info("connected to Slack", "team", res.Team, "bot", res.User)
}

// shutdownSlack lets acknowledged Slack work finish.
func (a *App) shutdownSlack(ctx context.Context) {
	if a.slack != nil {
		a.slack.Shutdown(ctx)
	}
}

// provisioningStatus is where provisioning of one request stands, for the
// approvers' Slack message; nil when the request has none.
func (a *App) provisioningStatus(ctx context.Context, requestID string) (*notifier.ProvisioningStatus, error) {
	recs, err := a.DB.ProvisioningStatuses(ctx, []string{requestID})
	if err != nil {
		return nil, err
	}
	rec, ok := recs[requestID]
	if !ok {
		return nil, nil
	}
	p := &notifier.ProvisioningStatus{Provisioner: rec.Spec.Type, Operation: string(rec.Operation), Status: string(rec.Status), LastError: rec.LastError}
	switch rec.Status {
	case provision.StatusApplied:
		p.At = rec.AppliedAt
	case provision.StatusRemoved:
		p.At = rec.RemovedAt
	}
	return p, nil
}
