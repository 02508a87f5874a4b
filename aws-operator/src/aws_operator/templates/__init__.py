"""CloudFormation templates, built with troposphere: typed resources checked as they are built, rendered to JSON
that cfn-lint checks in the tests. Chosen over Jinja2-templated YAML because user input (pool names, labels,
taints) then never becomes template text — it is always a property value."""
