package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The agent runs outside a pod here, so the suite plays kubelet: it copies the
// license Secret and the keys ConfigMap into directories laid out exactly like
// kubelet's atomic writer lays out Secret and ConfigMap volumes. The agent's
// reload logic depends on that layout (it watches for the ..data swap).

const (
	kubeletDataDir    = "..data"
	kubeletDataTmpDir = "..data_tmp"
	// kubeletTimestampLayout names a payload generation, as kubelet does
	// (plus a random suffix from MkdirTemp).
	kubeletTimestampLayout = "..2006_01_02_15_04_05."
)

// kubeletVolume is one Secret or ConfigMap volume directory.
type kubeletVolume struct {
	dir     string
	current map[string][]byte
}

// newKubeletVolume creates an empty volume directory, as kubelet mounts an
// optional Secret that does not exist yet.
func newKubeletVolume(dir string) (*kubeletVolume, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create volume directory %s: %w", dir, err)
	}
	return &kubeletVolume{dir: dir}, nil
}

// write publishes files as the volume's new payload the way kubelet's
// AtomicWriter does: a fresh timestamped directory, a ..data_tmp symlink to it
// renamed over ..data, user-visible symlinks through ..data, then removal of
// paths no longer in the payload and of the previous generation. A payload equal
// to the current one writes nothing, as in kubelet.
func (v *kubeletVolume) write(files map[string][]byte) error {
	if v.current != nil && payloadEqual(v.current, files) {
		return nil
	}
	oldTsDir, err := os.Readlink(filepath.Join(v.dir, kubeletDataDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s link in %s: %w", kubeletDataDir, v.dir, err)
	}

	tsDir, err := os.MkdirTemp(v.dir, time.Now().UTC().Format(kubeletTimestampLayout))
	if err != nil {
		return fmt.Errorf("create payload directory in %s: %w", v.dir, err)
	}
	if err := os.Chmod(tsDir, 0o755); err != nil {
		return err
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(tsDir, name), data, 0o644); err != nil {
			return fmt.Errorf("write payload file %s: %w", name, err)
		}
	}

	dataTmp := filepath.Join(v.dir, kubeletDataTmpDir)
	_ = os.Remove(dataTmp) // a leftover from an interrupted write
	if err := os.Symlink(filepath.Base(tsDir), dataTmp); err != nil {
		return fmt.Errorf("link %s: %w", kubeletDataTmpDir, err)
	}
	if err := os.Rename(dataTmp, filepath.Join(v.dir, kubeletDataDir)); err != nil {
		return fmt.Errorf("swap %s: %w", kubeletDataDir, err)
	}

	for name := range files {
		visible := filepath.Join(v.dir, name)
		if _, err := os.Lstat(visible); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join(kubeletDataDir, name), visible); err != nil {
			return fmt.Errorf("link %s: %w", name, err)
		}
	}
	for name := range v.current {
		if _, kept := files[name]; !kept {
			if err := os.Remove(filepath.Join(v.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove %s: %w", name, err)
			}
		}
	}
	if oldTsDir != "" && oldTsDir != filepath.Base(tsDir) {
		if err := os.RemoveAll(filepath.Join(v.dir, oldTsDir)); err != nil {
			return fmt.Errorf("remove previous payload %s: %w", oldTsDir, err)
		}
	}
	v.current = files
	return nil
}

func payloadEqual(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for name, data := range a {
		if other, ok := b[name]; !ok || !bytes.Equal(data, other) {
			return false
		}
	}
	return true
}

// volumeSync mirrors the license Secret and the product's keys ConfigMap into
// two kubelet volumes, polling once a second like a kubelet sync loop.
type volumeSync struct {
	clientset *kubernetes.Clientset
	namespace string
	secret    string
	configMap string
	license   *kubeletVolume
	keys      *kubeletVolume

	mu      sync.Mutex
	lastErr error
	syncs   int
}

// syncOnce copies both objects once. A Secret or ConfigMap that does not exist
// leaves its volume as it is.
func (s *volumeSync) syncOnce(ctx context.Context) error {
	secret, err := s.clientset.CoreV1().Secrets(s.namespace).Get(ctx, s.secret, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("get Secret %s/%s: %w", s.namespace, s.secret, err)
	default:
		if err := s.license.write(secret.Data); err != nil {
			return fmt.Errorf("project Secret %s: %w", s.secret, err)
		}
	}
	cm, err := s.clientset.CoreV1().ConfigMaps(s.namespace).Get(ctx, s.configMap, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("get ConfigMap %s/%s: %w", s.namespace, s.configMap, err)
	default:
		files := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
		for k, v := range cm.Data {
			files[k] = []byte(v)
		}
		for k, v := range cm.BinaryData {
			files[k] = v
		}
		if err := s.keys.write(files); err != nil {
			return fmt.Errorf("project ConfigMap %s: %w", s.configMap, err)
		}
	}
	return nil
}

// run syncs every second until ctx ends, then closes done.
func (s *volumeSync) run(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		err := s.syncOnce(ctx)
		s.mu.Lock()
		s.syncs++
		if err != nil && ctx.Err() == nil {
			if s.lastErr == nil || s.lastErr.Error() != err.Error() {
				fmt.Fprintf(GinkgoWriter, "kubelet volume sync: %v\n", err)
			}
			s.lastErr = err
		} else if err == nil {
			s.lastErr = nil
		}
		s.mu.Unlock()
	}
}

// status describes the loop for failure messages.
func (s *volumeSync) status() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("volume sync: %d syncs, last error: %v", s.syncs, s.lastErr)
}
