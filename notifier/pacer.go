package notifier

import (
	"sync"
	"time"
)

// Pacer spaces the messages sent to each Slack channel: Slack allows about
// one message per second per channel, with short bursts. A send that would
// have to wait longer than MaxWait is not held (it would tie up a worker
// that other channels need) but deferred: the caller returns the delivery
// to the queue to be tried later. A 429 from Slack blocks the channel for
// its Retry-After, for every send: one already waiting for its slot when
// the 429 came checks again when it wakes (Blocked) and takes a new slot
// after the block.
//
// Pacing is per process: replicas each pace their own sends, and Slack's
// 429s, which every replica honours, pace them together.
type Pacer struct {
	Interval time.Duration // between two sends to one channel; default 1s
	MaxWait  time.Duration // longest wait held in process; default 2s

	mu      sync.Mutex
	next    map[string]time.Time // channel → earliest next send
	blocked map[string]time.Time // channel → end of its last 429's Retry-After
}

// NewPacer returns a pacer with the default interval and wait.
func NewPacer() *Pacer { return &Pacer{Interval: time.Second, MaxWait: 2 * time.Second} }

// Reserve takes the next send slot of channel. It returns how long to wait
// before sending, or ok false, without taking a slot, when the channel is
// busy for longer than MaxWait.
func (p *Pacer) Reserve(channel string, now time.Time) (wait time.Duration, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	if len(p.next) > 10000 { // bound memory: forget channels with no pending slot
		for ch, t := range p.next {
			if !t.After(now) {
				delete(p.next, ch)
			}
		}
		for ch, t := range p.blocked {
			if !t.After(now) {
				delete(p.blocked, ch)
			}
		}
	}
	slot := now
	if t, found := p.next[channel]; found && t.After(now) {
		slot = t
	}
	wait = slot.Sub(now)
	if wait > p.MaxWait {
		return wait, false
	}
	p.next[channel] = slot.Add(p.Interval)
	return wait, true
}

// Block keeps channel free of sends until until (after a 429): no slot
// is given before it, and a slot given before the block is void if it
// falls inside it (see Blocked).
func (p *Pacer) Block(channel string, until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	if until.After(p.next[channel]) {
		p.next[channel] = until
	}
	if until.After(p.blocked[channel]) {
		p.blocked[channel] = until
	}
}

// Blocked reports whether a 429 keeps channel free of sends at now. A
// send checks it after waiting for its slot: a block that came during the
// wait voids the slot.
func (p *Pacer) Blocked(channel string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.blocked[channel].After(now)
}

func (p *Pacer) init() {
	if p.next == nil {
		p.next, p.blocked = map[string]time.Time{}, map[string]time.Time{}
	}
}
