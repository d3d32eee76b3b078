import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("payments", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="payment",
            name="refunded_minor",
            field=models.BigIntegerField(default=0),
        ),
        migrations.CreateModel(
            name="ProviderCapture",
            fields=[
                ("id", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("amount_minor", models.BigIntegerField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("payment", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT,
                                              related_name="provider_captures", to="payments.payment")),
            ],
            options={
                "db_table": "provider_captures",
            },
        ),
    ]
