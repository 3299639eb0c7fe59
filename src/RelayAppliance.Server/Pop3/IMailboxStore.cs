// API CONTRACT between the POP3 sessions (this folder) and the durable mailbox store (built on the spool).
// Keep the signatures; the semantics below are what the sessions rely on.

namespace RelayAppliance.Server.Pop3;

/// <summary>
/// Per-user maildrops for POP3 (RFC 1939). One open <see cref="IMaildrop"/> per user at a time: RFC 1939 §8 has the
/// server take an exclusive lock on the maildrop when a session enters the TRANSACTION state.
/// </summary>
public interface IMailboxStore
{
    /// <summary>
    /// Opens and locks <paramref name="user"/>'s maildrop, or returns null when another session holds it (the session
    /// answers <c>-ERR [IN-USE]</c>, RFC 2449 §8.1.1). A user without mail gets an empty maildrop, not null.
    /// </summary>
    /// <param name="user">
    /// The login name as the client sent it, already verified against <see cref="Accounts.UserStore"/>: a full address
    /// such as <c>alice@localhost</c>, in whatever case the client used. Compare it as UserStore does
    /// (<see cref="StringComparer.OrdinalIgnoreCase"/>).
    /// </param>
    /// <exception cref="Exception">Any exception means "cannot open now": the session answers <c>-ERR [SYS/TEMP]</c> (RFC 3206 §5).</exception>
    ValueTask<IMaildrop?> TryOpenAsync(string user, CancellationToken cancellationToken);
}

/// <summary>
/// A locked maildrop, from the PASS/AUTH that opened it to the end of the session. Disposing releases the lock and
/// changes nothing: only <see cref="CommitDeletionsAsync"/> removes mail, so a dropped connection deletes nothing.
/// </summary>
/// <remarks>
/// Called by one session at a time, never concurrently (one call completes before the next starts).
/// </remarks>
public interface IMaildrop : IAsyncDisposable
{
    /// <summary>
    /// The messages as they were when the maildrop was opened, oldest first. The session numbers them 1..Count in this
    /// order (message number = index + 1) and the list must not change while the maildrop is open: RFC 1939 §5 says
    /// message numbers and sizes are stable for the whole session. Mail delivered meanwhile shows up at the next open.
    /// </summary>
    IReadOnlyList<MaildropEntry> Messages { get; }

    /// <summary>
    /// The stored octets of message <paramref name="index"/> (0-based into <see cref="Messages"/>): exactly
    /// <see cref="MaildropEntry.Size"/> bytes, lines ending in CRLF, not dot-stuffed (the session stuffs while it
    /// sends). The stream must serve reads without holding the whole message in memory (messages reach tens of MB);
    /// the session reads it sequentially, may stop early (TOP), and disposes it. A store that reads by pushing chunks
    /// into a destination (as <c>MessageSpool.CopyBodyToAsync</c> does) can return <see cref="MaildropStreams.FromCopy"/>.
    /// </summary>
    /// <remarks>
    /// A pull stream rather than a push copy, so the session controls the pace (it reads only as fast as the client
    /// takes the response), TOP stops reading after its lines without cancelling anything, and stuffing and flushing
    /// stay in the session.
    /// </remarks>
    /// <exception cref="Exception">Any exception (here or from a read) makes the session answer <c>-ERR [SYS/TEMP]</c> or, once
    /// the response has started, close the connection, so the client never mistakes a truncated message for a whole one.</exception>
    ValueTask<Stream> OpenMessageAsync(int index, CancellationToken cancellationToken);

    /// <summary>
    /// RFC 1939 §6 UPDATE state: removes the messages at <paramref name="indexes"/> (0-based, ascending, distinct) and
    /// returns only once the removal is durable (journaled and committed): the session answers QUIT's <c>+OK</c> after
    /// this returns. All or nothing: on an exception nothing may have been removed, and the session answers
    /// <c>-ERR [SYS/TEMP]</c>. Called at most once per open maildrop, and never with an empty list.
    /// </summary>
    ValueTask CommitDeletionsAsync(IReadOnlyList<int> indexes, CancellationToken cancellationToken);
}

/// <summary>One message of an open maildrop.</summary>
/// <param name="Uid">
/// RFC 1939 §7 unique-id: 1 to 70 characters in 0x21–0x7E, unique within the maildrop and never reused for another
/// message, stable across sessions, restarts and spool compaction (clients that "leave mail on the server" key on it).
/// </param>
/// <param name="Size">
/// The exact number of octets <see cref="IMaildrop.OpenMessageAsync"/> yields: the message with CRLF line ends,
/// without byte-stuffing and without the terminating "." CRLF. RFC 1939 §5 (STAT, LIST) asks for the "exact size" in
/// octets, and §11 says how to count it: each line end counts as the two octets CRLF, and lines that start with "."
/// are not counted twice, since the client removes the stuffing. So STAT/LIST report exactly what the client has
/// after un-stuffing a RETR. (Stored messages end in CRLF — SMTP DATA always does; if one did not, RETR would add
/// the missing CRLF before the terminator, two octets beyond Size.)
/// </param>
public readonly record struct MaildropEntry(string Uid, long Size);
