"""The administrator's console under /admin/: thin views over the services, one module per
group of pages."""
