using System.Buffers;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using RelayAppliance.Protocol.Pop3;
using RelayAppliance.Server.Logging;

namespace RelayAppliance.Server.Pop3;

/// <summary>
/// AUTHORIZATION: USER/PASS (RFC 1939 §7) and AUTH PLAIN (RFC 5034, RFC 4616). The password lives only in a session
/// buffer that is cleared after each check; it is never logged. Failed logins are answered after a delay and counted
/// per client address; past the budget, attempts are refused without checking.
/// </summary>
internal sealed partial class Pop3Session
{
    private readonly byte[] _password;
    private int _passwordLength;
    private string? _userName;        // USER's argument, waiting for PASS
    private string _loginCandidate = "";
    private string? _loginUser;       // set once the maildrop is open
    private bool _saslPending;        // AUTH PLAIN sent "+ ", the next line is the response

    private Next HandleUser(ReadOnlySpan<byte> name)
    {
        if (!AuthAllowed)
        {
            return Error(Pop3Replies.PlaintextAuthDisallowed);
        }
        _userName = Encoding.UTF8.GetString(name);
        _state = Pop3State.UserGiven;
        return Reply(Pop3Replies.UserAccepted); // never says whether the user exists
    }

    private Next HandlePass(ReadOnlySpan<byte> password)
    {
        _state = Pop3State.Authorization;
        var user = _userName!;
        _userName = null;
        password.CopyTo(_password); // the line cap bounds it by the buffer's size
        _passwordLength = password.Length;
        _loginCandidate = user;
        return Next.Login;
    }

    private Next HandleAuth(in Pop3Command command, ReadOnlySpan<byte> initialResponse)
    {
        if (command.Mechanism == SaslMechanism.None)
        {
            return Reply(Pop3Replies.SaslMechanisms);
        }
        if (!AuthAllowed)
        {
            return Error(Pop3Replies.PlaintextAuthDisallowed);
        }
        if (command.Mechanism != SaslMechanism.Plain)
        {
            return Error(Pop3Replies.UnsupportedMechanism);
        }
        _state = Pop3State.Authorization;
        _userName = null;
        if (!command.HasInitialResponse)
        {
            _saslPending = true;
            return Reply(Pop3Replies.SaslContinue);
        }
        return CheckPlain(initialResponse);
    }

    /// <summary>RFC 5034 §4: the client's answer to "+ "; "*" cancels the exchange.</summary>
    private Next HandleSaslResponse(ReadOnlySpan<byte> line)
    {
        _saslPending = false;
        return Pop3CommandParser.ParseSaslResponse(line) switch
        {
            SaslResponseKind.Cancel => Error(Pop3Replies.AuthCancelled),
            SaslResponseKind.Invalid => Error(Pop3Replies.CannotDecodeResponse),
            _ => CheckPlain(line),
        };
    }

    // RFC 4616 §2: [authzid] NUL authcid NUL passwd; acting as someone else (authzid ≠ authcid) is refused.
    private Next CheckPlain(ReadOnlySpan<byte> base64)
    {
        // A separate buffer: the base64 text may itself sit in _lineScratch. A line of 512 octets decodes to at most 384.
        Span<byte> decoded = base64.Length <= 1024 ? stackalloc byte[768] : new byte[Base64.GetMaxDecodedFromUtf8Length(base64.Length)];
        if (Base64.DecodeFromUtf8(base64, decoded, out _, out var length) != OperationStatus.Done)
        {
            return Error(Pop3Replies.CannotDecodeResponse);
        }
        var message = decoded[..length];
        var first = message.IndexOf((byte)0);
        var second = first < 0 ? -1 : message[(first + 1)..].IndexOf((byte)0);
        if (second < 0)
        {
            CryptographicOperations.ZeroMemory(decoded);
            return Error(Pop3Replies.CannotDecodeResponse);
        }
        var authzid = message[..first];
        var authcid = message.Slice(first + 1, second);
        var password = message[(first + second + 2)..];
        // Control characters in the name are refused like USER refuses them (and so never reach a log line).
        if (authcid.IsEmpty || authcid.IndexOfAnyInRange((byte)0, (byte)' ') >= 0 || authcid.Contains((byte)0x7F)
            || !authzid.IsEmpty && !authzid.SequenceEqual(authcid))
        {
            CryptographicOperations.ZeroMemory(decoded);
            return Error(Pop3Replies.AuthFailed);
        }
        _loginCandidate = Encoding.UTF8.GetString(authcid);
        password.CopyTo(_password);
        _passwordLength = password.Length;
        CryptographicOperations.ZeroMemory(decoded);
        return Next.Login;
    }

    /// <summary>Verifies the password (PBKDF2, off the I/O path), then opens and locks the maildrop.</summary>
    private async Task<Next> LoginAsync()
    {
        var user = _loginCandidate;
        _loginCandidate = "";
        if (_server.LoginThrottle.IsBlocked(_clientAddress))
        {
            ClearPassword();
            Pop3Log.LoginThrottled(_server.Logger, _client);
            await Task.Delay(_options.FailedLoginDelay, _server.Time).ConfigureAwait(false);
            return Error(Pop3Replies.TooManyFailedLogins);
        }
        bool ok;
        try
        {
            ok = await Task.Run(() => _server.Users.Verify(user, _password.AsSpan(0, _passwordLength))).ConfigureAwait(false);
        }
        finally
        {
            ClearPassword();
        }
        if (!ok)
        {
            _server.LoginThrottle.RecordFailure(_clientAddress);
            Pop3Log.LoginFailed(_server.Logger, _client, user);
            await Task.Delay(_options.FailedLoginDelay, _server.Time).ConfigureAwait(false);
            return Error(Pop3Replies.AuthFailed);
        }

        IMaildrop? maildrop;
        try
        {
            maildrop = await _server.Mailboxes.TryOpenAsync(user, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Pop3Log.MaildropOpenFailed(_server.Logger, _client, user, e);
            return Reply(Pop3Replies.MaildropUnavailable);
        }
        if (maildrop is null)
        {
            Pop3Log.MaildropInUse(_server.Logger, _client, user);
            return Reply(Pop3Replies.MaildropInUse);
        }
        OpenTransaction(user, maildrop);
        Pop3Log.LoggedIn(_server.Logger, _client, user, _messages.Count);
        return Reply(Pop3Replies.LoggedIn);
    }
}
