// Command greeting-controller is the benchmark's trivial controller written on controller-runtime: per
// Greeting one ConfigMap (owned) and status.observedGeneration — the same work as the
// operatorkit example operator and bench/kopf_greeting.py.
package main

import (
	"context"
	"flag"
	"os"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

var greetingGVK = schema.GroupVersionKind{Group: "example.kubeception.io", Version: "v1alpha1", Kind: "Greeting"}

type reconciler struct{ client.Client }

func newGreeting() *unstructured.Unstructured {
	g := &unstructured.Unstructured{}
	g.SetGroupVersionKind(greetingGVK)
	return g
}

func (r *reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	g := newGreeting()
	if err := r.Get(ctx, req.NamespacedName, g); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	// No finalizer: the ConfigMap is owned, so the garbage collector deletes it with its Greeting.
	message, _, _ := unstructured.NestedString(g.Object, "spec", "message")
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: g.GetName() + "-greeting", Namespace: g.GetNamespace()}}
	if _, err := controllerutil.CreateOrUpdate(ctx, r.Client, cm, func() error {
		cm.Data = map[string]string{"message": message, "language": "en"}
		return controllerutil.SetControllerReference(g, cm, r.Scheme())
	}); err != nil {
		return ctrl.Result{}, err
	}
	observed, found, _ := unstructured.NestedInt64(g.Object, "status", "observedGeneration")
	if !found || observed != g.GetGeneration() {
		patch := client.MergeFrom(g.DeepCopy())
		if err := unstructured.SetNestedField(g.Object, g.GetGeneration(), "status", "observedGeneration"); err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{}, r.Status().Patch(ctx, g, patch)
	}
	return ctrl.Result{}, nil
}

func main() {
	namespace := flag.String("namespace", "default", "namespace to watch")
	workers := flag.Int("workers", 4, "MaxConcurrentReconciles")
	flag.Parse()
	cfg := ctrl.GetConfigOrDie()
	cfg.QPS, cfg.Burst = 1000, 2000 // no client-side throttling: the same as the Python peers
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{*namespace: {}}},
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		panic(err)
	}
	// The usual predicates: react to spec, label and annotation changes, not to our own status writes.
	changed := predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{},
		predicate.AnnotationChangedPredicate{})
	err = ctrl.NewControllerManagedBy(mgr).
		For(newGreeting(), builder.WithPredicates(changed)).
		Owns(&corev1.ConfigMap{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: *workers}).
		Complete(&reconciler{mgr.GetClient()})
	if err != nil {
		panic(err)
	}
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		os.Exit(1)
	}
}
