package agent

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/kubelicense/kubelicense/pkg/license"
)

// shutdownTimeout bounds how long in-flight requests may finish on exit.
const shutdownTimeout = 5 * time.Second

// Run serves the license API on api and, if probes is not nil, health and
// metrics on probes, and keeps the license fresh until ctx ends.
func (a *Agent) Run(ctx context.Context, api, probes net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	servers := []*http.Server{a.newServer(a.Handler())}
	listeners := []net.Listener{api}
	if probes != nil {
		servers = append(servers, a.newServer(a.ProbeHandler()))
		listeners = append(listeners, probes)
	}
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() {
			if err := srv.Serve(listeners[i]); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		a.Watch(ctx)
	}()
	onlineDone := make(chan struct{})
	var fatal <-chan error
	if a.online != nil {
		fatal = a.online.fatal
		go func() {
			defer close(onlineDone)
			a.runOnline(ctx)
		}()
	} else {
		close(onlineDone)
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	case err = <-fatal:
	}
	cancel()
	// The seat is released (bounded) while the servers still answer: readiness
	// drops with it.
	<-onlineDone
	shutdownCtx, stop := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer stop()
	for _, srv := range servers {
		_ = srv.Shutdown(shutdownCtx) // past the deadline connections are dropped, which is fine on exit
	}
	<-watchDone
	return err
}

func (a *Agent) newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
}

// Watch reloads the license whenever a watched directory changes (debounced),
// and every RecheckInterval in case an event was missed or a watch was lost.
// Without inotify (its limits are easily exhausted on busy nodes) it falls back
// to the periodic recheck alone. It returns when ctx ends.
func (a *Agent) Watch(ctx context.Context) {
	dirs := watchDirs(&a.cfg)
	var events <-chan fsnotify.Event
	var watchErrs <-chan error
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		a.log.Warn("file events unavailable; relying on the periodic recheck", "interval", a.cfg.RecheckInterval, "error", err)
	} else {
		defer watcher.Close()
		events, watchErrs = watcher.Events, watcher.Errors
		a.addWatches(watcher, dirs)
	}
	// What changed between the load in New and the watches being in place
	// raised no event: read the files once more now that they are watched.
	a.Reload()

	recheck := time.NewTicker(a.cfg.RecheckInterval)
	defer recheck.Stop()
	debounce := time.NewTimer(a.cfg.Debounce)
	debounce.Stop()

	_, v := a.evaluate(a.now())
	lastCode := v.code
	defer a.persist(true) // the latest time seen, on the way out
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			// kubelet's update is a burst (new dir, link, rename, remove):
			// reload once, after it settles.
			debounce.Reset(a.cfg.Debounce)
		case err, ok := <-watchErrs:
			if !ok {
				watchErrs = nil
				continue
			}
			a.log.Warn("file watch error; the periodic recheck still applies", "error", err)
		case <-debounce.C:
			a.Reload()
		case <-recheck.C:
			if watcher != nil {
				a.addWatches(watcher, dirs)
			}
			a.Reload()
		}
		// Log each change of the verdict once, also when only time moved it
		// (a license entering grace or expiring), and keep observing the clock.
		if _, v := a.evaluate(a.now()); v.code != lastCode {
			a.logVerdict(v)
			lastCode = v.code
		}
		a.persist(false)
	}
}

// addWatches (re)adds the directories not watched yet: a directory removed and
// created again loses its watch.
func (a *Agent) addWatches(w *fsnotify.Watcher, dirs []string) {
	have := w.WatchList()
	for _, d := range dirs {
		if slices.Contains(have, d) {
			continue
		}
		if err := w.Add(d); err != nil {
			a.log.Warn("cannot watch directory; relying on the periodic recheck", "dir", d, "interval", a.cfg.RecheckInterval, "error", err)
		}
	}
}

func (a *Agent) logVerdict(v verdict) {
	level := slog.LevelInfo
	if v.code != license.CodeValid {
		level = slog.LevelWarn
	}
	a.log.Log(context.Background(), level, "license state changed", "valid", v.valid, "code", v.code, "message", v.message)
}
