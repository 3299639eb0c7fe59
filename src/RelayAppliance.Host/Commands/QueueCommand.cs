using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using RelayAppliance.Delivery.Bounces;
using RelayAppliance.Delivery.Scheduling;
using RelayAppliance.Host.Admin;
using RelayAppliance.Host.Configuration;
using RelayAppliance.Spool;

namespace RelayAppliance.Host.Commands;

/// <summary>
/// `relayd queue list|show|delete|stats`. While relayd runs it owns the spool, so the request goes over its admin
/// socket; when it is stopped the command opens the spool itself. Either way the same code below produces the output.
/// </summary>
internal static class QueueCommand
{
    /// <param name="adminSocketWait">How long to wait for the admin socket of a relayd that holds the spool (15 s).</param>
    public static async Task<int> RunAsync(RelaydConfiguration configuration, string[] words, bool json, TextWriter output, TextWriter error,
        TimeSpan? adminSocketWait = null)
    {
        Validate(words);
        var request = json ? [.. words, "--json"] : words;
        var remote = await AdminClient.TrySendAsync(configuration.AdminSocketPath, request, output, error).ConfigureAwait(false);
        if (remote is int exitCode)
        {
            return exitCode;
        }
        if (!Directory.Exists(configuration.SpoolDirectory))
        {
            // Nothing was ever queued here: report an empty queue rather than create a spool as a side effect.
            return await ExecuteAsync(null, words, json, output, error, configuration).ConfigureAwait(false);
        }
        MessageSpool spool;
        try
        {
            spool = RunCommand.Open(configuration, NullLoggerFactory.Instance, TimeProvider.System);
        }
        catch (SpoolLockedException)
        {
            // A relayd holds the spool. Right after it started, its admin socket may not be up yet: it opens after the
            // listeners and the scan of the queue, which takes a second or more for a million messages.
            for (var waited = TimeSpan.Zero; waited < (adminSocketWait ?? TimeSpan.FromSeconds(15)); waited += AdminSocketPoll)
            {
                await Task.Delay(AdminSocketPoll).ConfigureAwait(false);
                if (await AdminClient.TrySendAsync(configuration.AdminSocketPath, request, output, error).ConfigureAwait(false) is int answered)
                {
                    return answered;
                }
            }
            await error.WriteLineAsync($"relayd: the spool in {configuration.SpoolDirectory} is held by a running relayd whose admin socket ({configuration.AdminSocketPath}) does not answer").ConfigureAwait(false);
            return Program.ExitFailure;
        }
        catch (SpoolRecoveryException e)
        {
            await error.WriteLineAsync($"relayd: cannot open the spool: {e.Message}").ConfigureAwait(false);
            return Program.ExitFailure;
        }
        await using (spool.ConfigureAwait(false))
        {
            return await ExecuteAsync(spool, words, json, output, error, configuration).ConfigureAwait(false);
        }
    }

    private static readonly TimeSpan AdminSocketPoll = TimeSpan.FromMilliseconds(100);

    private static void Validate(string[] words)
    {
        switch (words)
        {
            case ["list"] or ["stats"] or ["summary"] or ["flush"] or ["flush", _]:
                return;
            case ["show" or "delete" or "bounce", var id]:
                if (!MessageId.TryParse(id, out _))
                {
                    throw new UsageException($"'{id}' is not a message id (16 hex digits)");
                }
                return;
            case ["hold" or "release", var target]:
                if (target != "ALL" && !MessageId.TryParse(target, out _))
                {
                    throw new UsageException($"'{target}' is not a message id (16 hex digits) or ALL");
                }
                return;
            default:
                throw new UsageException(UsageText);
        }
    }

    private const string UsageText = "usage: relayd queue list | show ID | delete ID | bounce ID | hold ID|ALL | release ID|ALL | stats | summary [--json] | flush [DOMAIN]";

    /// <summary>Runs one validated queue command against an open spool (null: no spool exists yet).</summary>
    public static async Task<int> ExecuteAsync(MessageSpool? spool, string[] words, bool json, TextWriter output, TextWriter error,
        RelaydConfiguration configuration, DeliveryService? delivery = null)
    {
        switch (words)
        {
            case ["flush", ..]:
                if (delivery is null)
                {
                    await error.WriteLineAsync("relayd: flush needs a running relayd with delivery enabled (queued mail is tried when it starts)").ConfigureAwait(false);
                    return Program.ExitFailure;
                }
                var flushed = delivery.Flush(words.Length > 1 ? words[1].ToLowerInvariant() : null);
                await output.WriteLineAsync(delivery.RemoteEnabled ? $"{flushed} messages due now"
                    : $"{flushed} messages due now; remote delivery is off (Delivery:Enabled=false), relayed mail stays queued").ConfigureAwait(false);
                return Program.ExitOk;
            case ["hold" or "release", var target]:
                return await HoldOrReleaseAsync(spool, delivery, words[0] == "hold", target, output, error).ConfigureAwait(false);
            case ["summary"]:
                await output.WriteAsync(QueueSummary.Render(spool?.List() ?? [], DateTimeOffset.UtcNow, json)).ConfigureAwait(false);
                return Program.ExitOk;
            case ["list"]:
                foreach (var message in spool?.List() ?? [])
                {
                    await output.WriteLineAsync(json ? ToJson(message, body: null) : ToText(message)).ConfigureAwait(false);
                }
                return Program.ExitOk;
            case ["stats"]:
                var stats = spool?.GetStats() ?? default;
                await output.WriteLineAsync(json
                    ? $"{{\"messages\":{stats.Messages},\"recipients\":{stats.Recipients},\"bytes\":{stats.Bytes}}}"
                    : $"messages: {stats.Messages}\nrecipients: {stats.Recipients}\nbytes: {stats.Bytes}").ConfigureAwait(false);
                return Program.ExitOk;
            case ["show", var text]:
            {
                MessageId.TryParse(text, out var id);
                if (spool?.Find(id) is not { } message)
                {
                    return await NotFoundAsync(error, text).ConfigureAwait(false);
                }
                using var body = new MemoryStream();
                await spool.CopyBodyToAsync(id, body, CancellationToken.None).ConfigureAwait(false);
                if (json)
                {
                    await output.WriteLineAsync(ToJson(message, body.ToArray())).ConfigureAwait(false);
                }
                else
                {
                    await output.WriteLineAsync(ToText(message)).ConfigureAwait(false);
                    await output.WriteLineAsync().ConfigureAwait(false);
                    await output.WriteAsync(System.Text.Encoding.UTF8.GetString(body.ToArray())).ConfigureAwait(false);
                }
                return Program.ExitOk;
            }
            case ["bounce", var text]:
            {
                MessageId.TryParse(text, out var id);
                if (spool?.Find(id) is not { } message)
                {
                    return await NotFoundAsync(error, text).ConfigureAwait(false);
                }
                // Every recipient not yet final fails now; the sender gets one DSN, queued before the failures.
                var failed = message.Recipients
                    .Select((r, i) => (r, i))
                    .Where(x => x.r.State is RecipientState.Queued or RecipientState.Deferred)
                    .Select(x => new RecipientResult(x.i, RecipientOutcome.Failed, "550 5.0.0 Message bounced by the administrator", null))
                    .ToList();
                var dsn = await BounceQueue.QueueAsync(spool, configuration.Hostname, configuration.LocalDomains, message, failed,
                    DateTimeOffset.UtcNow, CancellationToken.None).ConfigureAwait(false);
                await spool.RecordResultsAsync(id, failed, null, CancellationToken.None).ConfigureAwait(false);
                await output.WriteLineAsync(dsn is { } dsnId ? $"bounced {id}: DSN {dsnId} queued to <{message.Sender}>"
                    : $"bounced {id}: no DSN (null sender)").ConfigureAwait(false);
                return Program.ExitOk;
            }
            case ["delete", var text]:
            {
                MessageId.TryParse(text, out var id);
                if (spool is null || !await spool.DeleteAsync(id, CancellationToken.None).ConfigureAwait(false))
                {
                    return await NotFoundAsync(error, text).ConfigureAwait(false);
                }
                await output.WriteLineAsync($"deleted {id}").ConfigureAwait(false);
                return Program.ExitOk;
            }
            default:
                throw new UsageException(UsageText);
        }
    }

    /// <summary>
    /// Like Postfix's `postsuper -h/-H`: held mail stays queued (and keeps its place) but is not attempted until
    /// released. With relayd running the scheduler is told too, so a release is tried at once.
    /// </summary>
    private static async Task<int> HoldOrReleaseAsync(MessageSpool? spool, DeliveryService? delivery, bool hold, string target,
        TextWriter output, TextWriter error)
    {
        List<MessageId> ids;
        if (target == "ALL")
        {
            ids = (spool?.List() ?? []).Where(m => m.Held != hold).Select(m => m.Id).ToList();
        }
        else
        {
            MessageId.TryParse(target, out var id);
            ids = [id];
        }
        var changed = 0;
        foreach (var id in ids)
        {
            var found = spool is not null && (delivery is null
                ? await spool.SetHeldAsync(id, hold, CancellationToken.None).ConfigureAwait(false)
                : hold ? await delivery.HoldAsync(id, CancellationToken.None).ConfigureAwait(false)
                : await delivery.ReleaseAsync(id, CancellationToken.None).ConfigureAwait(false));
            if (!found && target != "ALL")
            {
                return await NotFoundAsync(error, target).ConfigureAwait(false);
            }
            changed += found ? 1 : 0;
        }
        await output.WriteLineAsync(target == "ALL" ? $"{(hold ? "held" : "released")} {changed} messages"
            : $"{(hold ? "held" : "released")} {target}").ConfigureAwait(false);
        return Program.ExitOk;
    }

    private static async Task<int> NotFoundAsync(TextWriter error, string id)
    {
        await error.WriteLineAsync($"relayd: no message {id} in the queue").ConfigureAwait(false);
        return Program.ExitFailure;
    }

    private static string ToText(QueuedMessageInfo message)
    {
        var recipients = string.Join(", ", message.Recipients.Select(r => r.NextAttemptAt is { } next
            ? $"{r.Address} ({Name(r.State)}, {Name(r.Route)}, attempt {r.Attempts}, next {next.ToUniversalTime():yyyy-MM-ddTHH:mm:ssZ}: {r.LastResult})"
            : $"{r.Address} ({Name(r.State)}, {Name(r.Route)})"));
        var sender = message.Sender.Length == 0 ? "<>" : message.Sender;
        return string.Create(CultureInfo.InvariantCulture,
            $"{message.Id}{(message.Held ? "!" : " ")} {message.ReceivedAt:yyyy-MM-ddTHH:mm:ssZ}  {message.Size,9}  {sender} -> {recipients}");
    }

    /// <summary>One JSON object (like postqueue -j): id, sender, recipients with state, size, received time.</summary>
    private static string ToJson(QueuedMessageInfo message, byte[]? body)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("id", message.Id.ToString());
            json.WriteString("sender", message.Sender);
            json.WriteStartArray("recipients");
            foreach (var recipient in message.Recipients)
            {
                json.WriteStartObject();
                json.WriteString("address", recipient.Address);
                json.WriteString("state", Name(recipient.State));
                json.WriteString("route", Name(recipient.Route));
                json.WriteNumber("attempts", recipient.Attempts);
                if (recipient.NextAttemptAt is { } next)
                {
                    json.WriteString("nextAttempt", next.ToUniversalTime());
                }
                if (recipient.LastResult is not null)
                {
                    json.WriteString("lastResult", recipient.LastResult);
                }
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteBoolean("held", message.Held);
            json.WriteNumber("size", message.Size);
            json.WriteString("received", message.ReceivedAt.ToUniversalTime());
            json.WriteString("client", message.ClientAddress);
            json.WriteString("helo", message.Helo);
            if (message.AuthenticatedUser is not null)
            {
                json.WriteString("authenticatedUser", message.AuthenticatedUser);
            }
            json.WriteBoolean("tls", message.Tls);
            json.WriteBoolean("smtputf8", message.SmtpUtf8);
            json.WriteBoolean("8bitmime", message.EightBitMime);
            if (body is not null)
            {
                json.WriteString("content", System.Text.Encoding.UTF8.GetString(body));
            }
            json.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static string Name(RecipientState state) => state switch
    {
        RecipientState.Queued => "queued",
        RecipientState.Delivered => "delivered",
        RecipientState.Deferred => "deferred",
        RecipientState.Failed => "failed",
        _ => "unknown",
    };

    private static string Name(RecipientRoute route) => route == RecipientRoute.Local ? "local" : "remote";
}
