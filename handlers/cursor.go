package handlers

import (
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"time"

	"github.com/google/uuid"

	"github.com/waybill/waybill/models"
)

// A list cursor is opaque to clients: base64url (no padding) of 29 bytes,
// a direction (cursorOlder or cursorNewer), the row's created_at in Unix
// microseconds (big-endian), its id, and a CRC-32 of those 25 bytes. It
// carries the row's sort key itself, so it stays valid after the row is
// deleted, unlike before_id and after_id. The checksum catches a cursor
// damaged in transit or edited by hand; it is no signature, and needs
// none: a cursor is only a bound on the rows the request may see anyway.
const (
	cursorOlder = 'o'
	cursorNewer = 'n'
	cursorLen   = 1 + 8 + 16 + 4
)

// encodeCursor returns the cursor of the rows older (cursorOlder) or
// newer (cursorNewer) than key.
func encodeCursor(dir byte, key models.Key) string {
	b := make([]byte, 0, cursorLen)
	b = append(b, dir)
	b = binary.BigEndian.AppendUint64(b, uint64(key.At.UnixMicro()))
	b = append(b, key.ID[:]...)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor returns a cursor's direction and key, or false if s is not
// a cursor encodeCursor wrote.
func decodeCursor(s string) (byte, models.Key, bool) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != cursorLen || (b[0] != cursorOlder && b[0] != cursorNewer) ||
		binary.BigEndian.Uint32(b[25:]) != crc32.ChecksumIEEE(b[:25]) {
		return 0, models.Key{}, false
	}
	key := models.Key{At: time.UnixMicro(int64(binary.BigEndian.Uint64(b[1:9]))).UTC(), ID: uuid.UUID(b[9:25])}
	return b[0], key, true
}

// cursor reads the list parameter cursor into p's Before or After.
func (q *query) cursor(p *models.Page) {
	v := q.str("cursor")
	if v == nil {
		return
	}
	dir, key, ok := decodeCursor(*v)
	switch {
	case !ok:
		q.fail("cursor is not a cursor this server issued: pass a list's next_cursor or previous_cursor unchanged")
	case dir == cursorOlder:
		p.Before = &key
	default:
		p.After = &key
	}
}

// forwardCursor reads the cursor of a list paged forward only (a
// shipment's events): its next_cursor, which points to the later items.
func (q *query) forwardCursor(after **models.Key) {
	v := q.str("cursor")
	if v == nil {
		return
	}
	dir, key, ok := decodeCursor(*v)
	if !ok || dir != cursorNewer {
		q.fail("cursor is not a cursor of this list: pass its next_cursor unchanged")
		return
	}
	*after = &key
}

// keyed is a row of a list, which knows its place in it.
type keyed interface {
	ListKey() models.Key
}

// pageResponse is listResponse with the cursors of the pages beside it:
// next_cursor (older rows) and previous_cursor (newer rows), each left out
// where the list is known to end, as it was read: on an empty page; with
// no more rows in the direction of travel; before the first row of a
// first page, read without a cursor.
func pageResponse[T keyed](plural string, items []T, more bool, p models.Page) map[string]any {
	body := listResponse(plural, items, more)
	if len(items) == 0 {
		return body
	}
	towardNewer := p.AfterID != nil || p.After != nil
	bounded := towardNewer || p.BeforeID != nil || p.Before != nil
	if more || towardNewer {
		body["next_cursor"] = encodeCursor(cursorOlder, items[len(items)-1].ListKey())
	}
	if (more && towardNewer) || (bounded && !towardNewer) {
		body["previous_cursor"] = encodeCursor(cursorNewer, items[0].ListKey())
	}
	return body
}
