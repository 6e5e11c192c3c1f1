from django import forms
from django.conf import settings

from .services import check_upload


class UploadForm(forms.Form):
    file = forms.FileField(
        label="Transaction file (CSV)",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
        error_messages={"required": "Choose the CSV file to import."},
    )
    dry_run = forms.BooleanField(
        label="Only check the file (dry run): report what the import would do, write nothing", required=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = (
            f"CSV UTF-8 with a header row, at most {settings.LOYALTY_IMPORT_MAX_UPLOAD_MB:,} MB. All or nothing: "
            "if any line is bad, nothing is written and every bad line is listed."
        )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        check_upload(upload)
        return upload
