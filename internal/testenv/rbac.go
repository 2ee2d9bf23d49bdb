package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

// ManagerUser is the user a manager started with AsManager acts as.
const ManagerUser = "kubelicense-manager"

// AsManager installs the manager's ClusterRole as generated from the
// +kubebuilder:rbac markers (config/rbac/role.yaml), binds it to ManagerUser,
// and returns a copy of the admin config cfg that impersonates that user. A
// manager started with it is refused what the installed manager is refused, so
// a permission missing from the markers fails a test instead of a cluster.
func AsManager(ctx context.Context, cfg *rest.Config) (*rest.Config, error) {
	path := filepath.Join(RepoRoot(), "config", "rbac", "role.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the manager's role: %w", err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(data, &role); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	role.ObjectMeta = metav1.ObjectMeta{Name: "kubelicense-test-" + role.Name}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &role, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create ClusterRole %s: %w", role.Name, err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: ManagerUser}},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create ClusterRoleBinding %s: %w", binding.Name, err)
	}
	as := rest.CopyConfig(cfg)
	as.Impersonate = rest.ImpersonationConfig{UserName: ManagerUser, Groups: []string{"system:authenticated"}}
	return as, nil
}

// ManagerKubeconfig prepares what an installed manager runs with in namespace
// (its own): the ClusterRole of AsManager, the leader-election Role of
// config/rbac bound in namespace, and a copy of the admin kubeconfig that
// impersonates ManagerUser, for a manager process started with KUBECONFIG.
func ManagerKubeconfig(ctx context.Context, cfg *rest.Config, adminKubeconfig []byte, namespace string) ([]byte, error) {
	if _, err := AsManager(ctx, cfg); err != nil {
		return nil, err
	}
	path := filepath.Join(RepoRoot(), "config", "rbac", "leader_election_role.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the leader-election role: %w", err)
	}
	var role rbacv1.Role
	if err := yaml.UnmarshalStrict(data, &role); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	role.ObjectMeta = metav1.ObjectMeta{Namespace: namespace, Name: "kubelicense-test-" + role.Name}
	if _, err := cs.RbacV1().Roles(namespace).Create(ctx, &role, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create Role %s: %w", role.Name, err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: ManagerUser}},
	}
	if _, err := cs.RbacV1().RoleBindings(namespace).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create RoleBinding %s: %w", binding.Name, err)
	}
	kc, err := clientcmd.Load(adminKubeconfig)
	if err != nil {
		return nil, fmt.Errorf("read the admin kubeconfig: %w", err)
	}
	for _, user := range kc.AuthInfos {
		user.Impersonate, user.ImpersonateGroups = ManagerUser, []string{"system:authenticated"}
	}
	return clientcmd.Write(*kc)
}
