"""Cloud service: decides known person or intruder by face recognition against known persons."""
