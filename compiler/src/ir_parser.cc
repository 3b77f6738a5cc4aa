// placeholder: being written by the lead
