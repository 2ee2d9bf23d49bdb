package config

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kubelicense/kubelicense/internal/testenv"
)

// binaries are the commands the image ships; the first is the entrypoint.
var binaries = []string{"manager", "license-agent"}

// clientOnly are commands under cmd/ that run outside the cluster and stay out of the image.
var clientOnly = []string{"kubectl-license"}

// dockerStages splits a Dockerfile into its stages, each starting with its FROM line.
func dockerStages(dockerfile string) [][]string {
	var stages [][]string
	for _, line := range strings.Split(dockerfile, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "FROM ") {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], line)
		}
	}
	return stages
}

func TestDockerfile(t *testing.T) {
	dockerfile := string(readFile(t, "Dockerfile"))
	stages := dockerStages(dockerfile)
	if len(stages) != 2 {
		t.Fatalf("Dockerfile has %d stages, want a builder and the image", len(stages))
	}
	builder, image := stages[0], stages[1]

	// The builder runs on the build machine and cross-compiles (GOARCH from
	// TARGETARCH), instead of running under emulation for every platform.
	m := regexp.MustCompile(`^FROM --platform=\$BUILDPLATFORM golang:(\d+)\.(\d+)\S* AS builder$`).FindStringSubmatch(builder[0])
	if m == nil {
		t.Fatalf("Dockerfile builder stage %q, want FROM --platform=$BUILDPLATFORM golang:<go.mod's version> AS builder", builder[0])
	}
	goMod := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)`).FindStringSubmatch(string(readFile(t, "go.mod")))
	if goMod == nil {
		t.Fatal("go.mod has no go directive")
	}
	if atoi(t, m[1]) != atoi(t, goMod[1]) || atoi(t, m[2]) < atoi(t, goMod[2]) {
		t.Errorf("the builder is golang:%s.%s, go.mod needs go %s.%s", m[1], m[2], goMod[1], goMod[2])
	}
	download := slices.Index(builder, "RUN go mod download")
	firstSource := slices.IndexFunc(builder, func(l string) bool { return strings.HasPrefix(l, "COPY ") && !strings.HasPrefix(l, "COPY go.mod") })
	if download < 0 || firstSource < download {
		t.Error("Dockerfile must download modules before it copies the sources, so that layer stays cached")
	}
	var built []string
	for _, b := range binaries {
		re := regexp.MustCompile(`CGO_ENABLED=0 GOOS=\$\{TARGETOS:-linux\} GOARCH=\$\{TARGETARCH\} \\?\s*go build -trimpath -ldflags="-s -w" -o /out/` + regexp.QuoteMeta(b) + ` \./cmd/` + regexp.QuoteMeta(b) + `\n`)
		if !re.MatchString(dockerfile) {
			t.Errorf("Dockerfile does not build ./cmd/%s statically for the target platform into /out/%s", b, b)
		}
		built = append(built, "/out/"+b)
	}

	// The image: distroless, a numeric non-root user (runAsNonRoot can only
	// verify a number), every binary at the root, the manager as entrypoint.
	want := []string{
		"FROM gcr.io/distroless/static:nonroot",
		"WORKDIR /",
		"COPY --from=builder " + strings.Join(built, " ") + " /",
		"USER 65532:65532",
		`ENTRYPOINT ["/` + binaries[0] + `"]`,
	}
	if !slices.Equal(image, want) {
		t.Errorf("the image stage is\n  %s\nwant\n  %s", strings.Join(image, "\n  "), strings.Join(want, "\n  "))
	}

	// A new command under cmd/ goes into the image or is declared client-only.
	dirs, err := os.ReadDir(filepath.Join(testenv.RepoRoot(), "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if d.IsDir() && !slices.Contains(binaries, d.Name()) && !slices.Contains(clientOnly, d.Name()) {
			t.Errorf("cmd/%s is neither in the image (binaries) nor client-only", d.Name())
		}
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDockerfileCopiesEveryPackage fails when a binary imports a package from a
// top-level directory the Dockerfile does not copy into the build stage.
func TestDockerfileCopiesEveryPackage(t *testing.T) {
	root := testenv.RepoRoot()
	copied := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^COPY ([\w.-]+)/ `).FindAllStringSubmatch(string(readFile(t, "Dockerfile")), -1) {
		copied[m[1]] = true
	}
	args := []string{"list", "-deps", "-e", "-f", "{{if not .Standard}}{{.Dir}}{{end}}"}
	for _, b := range binaries {
		args = append(args, "./cmd/"+b)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var dirs []string
	for _, dir := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, dir)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // another module: go mod download fetches it
		}
		top := strings.Split(filepath.ToSlash(rel), "/")[0]
		if !copied[top] && !slices.Contains(dirs, top) {
			dirs = append(dirs, top)
		}
	}
	if len(dirs) > 0 {
		t.Errorf("the binaries import packages under %v, which the Dockerfile does not COPY", dirs)
	}
}

func TestDockerignore(t *testing.T) {
	lines := strings.Split(string(readFile(t, ".dockerignore")), "\n")
	for _, want := range []string{".git/", "bin/", "dist/", "cover.out"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
}
