package config

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kubelicense/kubelicense/internal/testenv"
)

// binaries are the commands the image ships; the first is the entrypoint.
var binaries = []string{"manager", "license-agent"}

func TestDockerfile(t *testing.T) {
	dockerfile := string(readFile(t, "Dockerfile"))
	for _, want := range []string{
		"FROM golang:1.26 AS builder",
		"RUN go mod download",
		"FROM gcr.io/distroless/static:nonroot",
		"USER 65532:65532",
		`ENTRYPOINT ["/manager"]`,
	} {
		if !strings.Contains(dockerfile, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if strings.Index(dockerfile, "RUN go mod download") > strings.Index(dockerfile, "COPY cmd/") {
		t.Error("Dockerfile must download modules before it copies the sources, so that layer stays cached")
	}
	for _, b := range binaries {
		re := regexp.MustCompile(`CGO_ENABLED=0 .*\\?\s*go build -trimpath -ldflags="-s -w" -o \S*/` + regexp.QuoteMeta(b) + ` \./cmd/` + regexp.QuoteMeta(b) + `\n`)
		if !re.MatchString(dockerfile) {
			t.Errorf("Dockerfile does not build ./cmd/%s statically", b)
		}
	}
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
